/**
 * Tells a chat's sockets that its other participant erased their account (docs/websocket.md,
 * "participant_erased"), so a client can close its composer at once instead of learning it from a
 * refused send: live, when the log's UserErased reaches this process, to every resumed socket that
 * follows a chat with that user; and after a resume's backlog, for each chat named whose other
 * participant is erased (from the command cache, which the log keeps current: a store read only the
 * first time), so the state survives a reconnect.
 */
import type { Logger } from 'pino';
import type { CommandDeps } from '../../commands/deps.js';
import { otherParticipantErased } from '../../commands/participant-erased.js';
import { otherParticipant } from '../../domain/chat.js';
import { chatIdFor } from '../../domain/chat-id.js';
import type { Conn, Outbox } from './connection.js';
import { errText } from './err-text.js';
import { encodeParticipantErased, participantsOf } from './protocol.js';

export interface ErasureNotices {
  /** A UserErased from the log. */
  userErased(userId: string): void;
  afterResume(conn: Conn, chatIds: readonly string[]): Promise<void>;
}

export function createErasureNotices(d: { commands: CommandDeps; outbox: Outbox; conns: () => Iterable<Conn>; logger: Logger }): ErasureNotices {
  return {
    userErased(userId) {
      // Erasures are rare: a pass over this process's sockets is cheaper than an index kept for them.
      for (const conn of d.conns()) {
        if (conn.closed || !conn.resumed || conn.userId === userId) continue;
        const chatId = chatIdFor(conn.userId, userId);
        if (conn.cursor(chatId)) d.outbox.send(conn, encodeParticipantErased({ chatId, userId }));
      }
    },

    async afterResume(conn, chatIds) {
      await Promise.all(chatIds.map(async (chatId) => {
        const pair = participantsOf(chatId);
        if (!pair || !pair.includes(conn.userId)) return;
        try {
          if (await otherParticipantErased(d.commands.bus, pair, conn.userId) && !conn.closed) {
            d.outbox.send(conn, encodeParticipantErased({ chatId, userId: otherParticipant(pair, conn.userId) }));
          }
        } catch (err) {
          // What the resume promised (the backlog) is delivered; a send will still be refused as it must.
          d.logger.warn({ err: errText(err), chatId, conn: conn.id }, 'erasure state after resume failed');
        }
      }));
    },
  };
}
