/**
 * What the gateway does with each frame a client sends: rate limit, parse and validate, then `send`
 * (through the sendMessage command) or `resume` (through Delivery). Every answer leaves through the
 * outbox, so it is ordered with the socket's events.
 */
import type { CommandDeps } from '../../commands/deps.js';
import { sendMessage } from '../../commands/send-message.js';
import type { Logger } from 'pino';
import type { WsConfig } from './config.js';
import type { Conn, FillOutcome, Outbox } from './connection.js';
import type { Delivery } from './delivery.js';
import {
  encodeAck, encodeError, encodeResumed, otherParticipant, parseClientFrame,
  type ResumeFrame, type SendFrame, type TypingFrame, type WatchFrame, type WsErrorCode,
} from './protocol.js';
import { take } from './rate-limit.js';
import type { ReadFrame } from './read-frames.js';
import type { ChangeFrame } from './change-frames.js';
import { errText } from './err-text.js';

export interface FrameCounters {
  rateLimitedClosed: number;
  sendsAccepted: number;
  sendsRejected: number;
  /** Sends awaiting their result now, and those refused because too many were (WsConfig.maxProcessInFlightSends). */
  sendsInFlight: number;
  sendsShed: number;
  badFrames: number;
}

export interface FrameHandlerDeps {
  config: WsConfig;
  commands: CommandDeps;
  outbox: Outbox;
  delivery: Delivery;
  counters: FrameCounters;
  logger: Logger;
  /** Registers work in flight, so closing the gateway can wait for it. */
  track: <T>(p: Promise<T>) => Promise<T>;
  /** Ends a socket that broke the rate limit (close 1008). */
  end: (conn: Conn) => void;
  /**
   * Whether the socket's session is still alive (SessionWatch.admit): `true` at once, or a promise
   * of the database's answer. A frame of a socket whose session ended is never served.
   */
  admit: (conn: Conn) => true | Promise<boolean>;
  /** `typing` and `watch` frames: typing.ts and presence.ts. */
  ephemeral: (conn: Conn, frame: TypingFrame | WatchFrame) => Promise<void>;
  /** `read` frames, and the read state a resume sends before `resumed` (receipts.ts). */
  read?: (conn: Conn, frame: ReadFrame) => Promise<void>;
  afterResume?: (conn: Conn, chatIds: readonly string[]) => Promise<void>;
  /** `edit` and `delete` frames (change-frames.ts). */
  change?: (conn: Conn, frame: ChangeFrame) => Promise<void>;
}

/** Codes of errors that mean "the database or network is down", not a bug. */
const UNAVAILABLE = /^(ECONN|ETIMEDOUT|ENOTFOUND|EPIPE|57P|08|53)/;

export function errorCodeOf(err: unknown): WsErrorCode {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (code === 'CONCURRENCY_CONFLICT') return 'CONCURRENCY_CONFLICT';
  if (typeof code === 'string' && UNAVAILABLE.test(code)) return 'SERVICE_UNAVAILABLE';
  if (err instanceof Error && /pool|closed|terminat|connect/i.test(err.message)) return 'SERVICE_UNAVAILABLE';
  return 'INTERNAL';
}

export function createFrameHandler(d: FrameHandlerDeps): (conn: Conn, message: ArrayBuffer, isBinary: boolean) => void {
  const { config, commands, outbox, delivery, counters, logger, track } = d;
  const reply = (conn: Conn, frame: string): void => outbox.send(conn, frame);
  // While the session store is out, every frame of every socket fails its check: one line per 10 s, with a count.
  let checkWarnedAt = -Infinity;
  let checkFailuresUnlogged = 0;

  const handleSend = async (conn: Conn, f: SendFrame): Promise<void> => {
    // Membership is a property of the id (the sorted pair), so an outsider is refused without a read.
    const member = otherParticipant(f.chatId, conn.userId);
    if ('refused' in member) return reply(conn, encodeError(member.refused, { ref: f.ref, chatId: f.chatId }));
    if (conn.inFlight >= config.maxInFlightSends) {
      return reply(conn, encodeError('RATE_LIMITED', { ref: f.ref, chatId: f.chatId, detail: 'too many sends awaiting their ack' }));
    }
    if (counters.sendsInFlight >= config.maxProcessInFlightSends) {
      counters.sendsShed++;
      return reply(conn, encodeError('SERVICE_UNAVAILABLE', { ref: f.ref, chatId: f.chatId, detail: 'the gateway is at capacity; send again shortly' }));
    }
    conn.inFlight++;
    counters.sendsInFlight++;
    // An ack held for its event still counts against the socket's sends in flight.
    let ackHeld = false;
    try {
      const r = await sendMessage(commands, { senderId: conn.userId, chatId: f.chatId, body: f.body, clientMessageId: f.clientMessageId });
      if (r.ok) {
        counters.sendsAccepted++;
        const v = r.value;
        const ack = encodeAck({ ref: f.ref, chatId: v.chatId, messageId: v.messageId, revision: v.revision, position: v.position.toString(), duplicate: v.duplicate });
        ackHeld = true;
        delivery.ack(conn, v.chatId, v.revision, v.duplicate, ack, () => { conn.inFlight--; });
      } else {
        counters.sendsRejected++;
        reply(conn, encodeError(r.error.code, { ref: f.ref, chatId: f.chatId }));
      }
    } catch (err) {
      counters.sendsRejected++;
      const code = errorCodeOf(err);
      // The chat and user only: never the body (user content) or anything secret.
      // A conflict or an outage is expected now and then (warn); anything else is a bug (error).
      logger[code === 'INTERNAL' ? 'error' : 'warn']({ err: errText(err), code, chatId: f.chatId, userId: conn.userId }, 'ws send failed');
      reply(conn, encodeError(code, { ref: f.ref, chatId: f.chatId }));
    } finally {
      if (!ackHeld) conn.inFlight--;
      counters.sendsInFlight--;
    }
  };

  const handleResume = async (conn: Conn, f: ResumeFrame): Promise<void> => {
    const entries = Object.entries(f.chats);
    if (entries.length > config.maxResumeChats) {
      return reply(conn, encodeError('VALIDATION_FAILED', { ref: f.ref, detail: `at most ${config.maxResumeChats} chats per resume` }));
    }
    // One resume at a time per socket: each may cost up to maxResumeChats store reads, and the
    // rate limit alone would let one socket queue them faster than the store serves them.
    if (conn.resuming) return reply(conn, encodeError('RATE_LIMITED', { ref: f.ref, detail: 'one resume at a time; wait for resumed' }));
    conn.resuming = true;
    try {
      await resume(conn, f, entries);
    } finally {
      conn.resuming = false;
    }
  };

  const resume = async (conn: Conn, f: ResumeFrame, entries: Array<[string, number]>): Promise<void> => {
    const first = !conn.resumed;
    conn.resumed = true;
    const jobs: Array<{ chatId: string; outcome: Promise<FillOutcome> }> = [];
    const named = new Set<string>();
    for (const [chatId, claimed] of entries) {
      // Keys are at most 200 characters (parseClientFrame), so echoing them is cheap.
      const member = otherParticipant(chatId, conn.userId);
      if ('refused' in member) {
        reply(conn, encodeError(member.refused, { ref: f.ref, chatId }));
        continue;
      }
      named.add(chatId);
      jobs.push({ chatId, outcome: delivery.resumeChat(conn, chatId, claimed) });
    }
    if (first && conn.firstSeen) {
      // Chats whose live events arrived between the upgrade and this first resume, not named in it:
      // sent from the first of those events, so nothing that came in meanwhile is lost.
      for (const [chatId, rev] of conn.firstSeen) {
        if (!named.has(chatId)) jobs.push({ chatId, outcome: delivery.resumeChat(conn, chatId, rev - 1) });
      }
      conn.firstSeen = null;
    }
    const outcomes = await Promise.all(jobs.map((j) => j.outcome));
    if (conn.closed) return;
    const chats = Object.create(null) as Record<string, number>;
    jobs.forEach(({ chatId }, i) => {
      const cursor = conn.cursor(chatId);
      if (outcomes[i] === 'not-found') {
        reply(conn, encodeError('CHAT_NOT_FOUND', { ref: f.ref, chatId }));
        // Forget it, so that if the chat starts later its events are followed from ChatStarted.
        if (cursor && !cursor.fill && cursor.delivered === -1) conn.cursors?.delete(chatId);
        return;
      }
      if (cursor) chats[chatId] = cursor.delivered;
    });
    if (d.afterResume) {
      await d.afterResume(conn, Object.keys(chats));
      if (conn.closed) return;
      // Live events may have gone out meanwhile: `resumed` says where the socket stands when it is sent.
      for (const chatId of Object.keys(chats)) {
        const cursor = conn.cursor(chatId);
        if (cursor) chats[chatId] = cursor.delivered;
      }
    }
    reply(conn, encodeResumed(f.ref, chats));
  };

  const onMessage = (conn: Conn, message: ArrayBuffer, isBinary: boolean): void => {
    if (conn.closed) return;
    if (!take(conn.bucket, config.ratePerSec, config.rateBurst, performance.now())) {
      counters.rateLimitedClosed++;
      // The error frame goes out before the close frame; then the socket is gone (policy violation).
      outbox.send(conn, encodeError('RATE_LIMITED'));
      outbox.flushNow(conn);
      d.end(conn);
      return;
    }
    if (isBinary) {
      counters.badFrames++;
      return reply(conn, encodeError('BAD_REQUEST', { detail: 'binary frames are not supported' }));
    }
    // Decoded at once: uWS invalidates the buffer when this callback returns. uWS has already
    // checked the UTF-8 (it drops the connection on invalid text).
    const parsed = parseClientFrame(Buffer.from(message).toString('utf8'));
    if (!parsed.ok) {
      counters.badFrames++;
      return reply(conn, encodeError(parsed.code, { ref: parsed.ref, chatId: parsed.chatId, detail: parsed.detail }));
    }
    const frame = parsed.frame;
    // What the user does is use of the session (SessionWatch reports it); what a page does on its own (resume, watch) is not.
    if (frame.type !== 'resume' && frame.type !== 'watch') conn.usedAt = Date.now();
    const serve = (): Promise<void> => (frame.type === 'send' ? handleSend(conn, frame) : frame.type === 'resume' ? handleResume(conn, frame) : frame.type === 'read' ? (d.read ? d.read(conn, frame) : Promise.resolve())
      : frame.type === 'edit' || frame.type === 'delete' ? (d.change ? d.change(conn, frame) : Promise.resolve()) : d.ephemeral(conn, frame));
    const admitted = d.admit(conn);
    if (admitted === true) {
      void track(serve());
      return;
    }
    void track(admitted.then(
      (alive) => (alive && !conn.closed ? serve() : undefined),
      (err: unknown) => {
        // The session cannot be checked now: refusing is the only answer that cannot be wrong.
        const now = performance.now();
        if (now - checkWarnedAt >= 10_000) {
          logger.warn({ err: errText(err), conn: conn.id, suppressed: checkFailuresUnlogged }, 'ws session check failed');
          checkWarnedAt = now;
          checkFailuresUnlogged = 0;
        } else checkFailuresUnlogged++;
        const chatId = 'chatId' in frame ? { chatId: frame.chatId } : {};
        reply(conn, encodeError('SERVICE_UNAVAILABLE', { ref: frame.ref, ...chatId, detail: 'the session cannot be checked now; try again shortly' }));
      },
    ));
  };

  return onMessage;
}
