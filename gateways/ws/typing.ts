/**
 * Typing notices: a participant's `typing` frame goes, through the presence bus (Redis pub/sub, or
 * in process), to every socket of the chat's other participant on every gateway process, as an
 * `is_typing` frame. Nothing is stored. Each socket has its own small token bucket for them, apart
 * from the frame bucket, so a chatty client is told (TYPING_RATE_LIMITED) rather than disconnected.
 */
import type { PresenceBus, TypingNotice } from '../ports/presence.js';
import type { Logger } from 'pino';
import type { ChatExists } from './chat-exists.js';
import type { Conn, Outbox } from './connection.js';
import { encodeError, encodeIsTyping, otherParticipant, participantsOf, type TypingFrame } from './protocol.js';
import { newBucket, take, type Bucket } from './rate-limit.js';
import { errText } from './err-text.js';

export interface TypingSettings {
  /** Typing frames a socket may send per second, sustained … */
  ratePerSec: number;
  /** … and at once. */
  burst: number;
}

export const DEFAULT_TYPING_SETTINGS: TypingSettings = { ratePerSec: 1, burst: 3 };

export interface TypingCounters {
  typingAccepted: number;
  typingRefused: number;
  typingDelivered: number;
}

export interface TypingDeps {
  bus: PresenceBus;
  outbox: Outbox;
  exists: ChatExists;
  connsOf: (userId: string) => Iterable<Conn>;
  settings: TypingSettings;
  counters: TypingCounters;
  logger: Logger;
}

export class Typing {
  readonly #d: TypingDeps;
  /** Created on a socket's first typing frame: idle sockets carry nothing. */
  readonly #buckets = new WeakMap<Conn, Bucket>();

  constructor(deps: TypingDeps) {
    this.#d = deps;
  }

  async handle(conn: Conn, f: TypingFrame): Promise<void> {
    const { outbox, settings, counters } = this.#d;
    const refuse = (code: 'CHAT_NOT_FOUND' | 'NOT_A_PARTICIPANT' | 'TYPING_RATE_LIMITED' | 'SERVICE_UNAVAILABLE'): void => {
      counters.typingRefused++;
      outbox.send(conn, encodeError(code, { ref: f.ref, chatId: f.chatId }));
    };
    const member = otherParticipant(f.chatId, conn.userId);
    if ('refused' in member) return refuse(member.refused);
    const now = performance.now();
    let bucket = this.#buckets.get(conn);
    if (!bucket) this.#buckets.set(conn, (bucket = newBucket(settings.burst, now)));
    if (!take(bucket, settings.ratePerSec, settings.burst, now)) return refuse('TYPING_RATE_LIMITED');
    let exists: boolean;
    try {
      exists = await this.#d.exists(conn, f.chatId);
    } catch (err) {
      this.#d.logger.warn({ err: errText(err), chatId: f.chatId }, 'typing: the chat could not be checked');
      return refuse('SERVICE_UNAVAILABLE');
    }
    if (!exists) return refuse('CHAT_NOT_FOUND');
    if (conn.closed) return;
    counters.typingAccepted++;
    this.#d.bus.publishTyping({ chatId: f.chatId, userId: conn.userId });
  }

  /** A notice from the bus (any process): to the other participant's sockets on this one. */
  readonly deliver = (n: TypingNotice): void => {
    const pair = participantsOf(n.chatId);
    if (!pair || (pair[0] !== n.userId && pair[1] !== n.userId)) return;
    const other = pair[0] === n.userId ? pair[1] : pair[0];
    let frame: string | null = null;
    for (const conn of this.#d.connsOf(other)) {
      frame ??= encodeIsTyping(n.chatId, n.userId);
      this.#d.outbox.send(conn, frame);
      this.#d.counters.typingDelivered++;
    }
  };
}
