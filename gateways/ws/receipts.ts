/**
 * Read receipts on the socket (docs/websocket.md, "Read receipts and unread counts"): the `read`
 * frame (through the markRead command, which never touches the chat's stream), the `receipt` of
 * every ChatRead in the log to both participants' sockets, the reader's `unread` count after each
 * of their reads, and both after a resume, so read state survives a drop or a reload.
 */
import type { CommandDeps, CommandResult } from '../../commands/deps.js';
import { markRead, type ReadMarked } from '../../commands/mark-read.js';
import { readPositionsOf } from '../../commands/read-positions.js';
import { countOthersAfter, type ChatState } from '../../domain/chat.js';
import { chatStreamId, readsStreamId } from '../../domain/events.js';
import type { ReadState } from '../../domain/reads.js';
import type { RecordedEvent } from '../../commands/ports/event-store.js';
import type { Logger } from 'pino';
import type { Conn, Outbox } from './connection.js';
import { encodeError, otherParticipant, participantsOf, type WsErrorCode } from './protocol.js';
import { ReadCoalescer, type CoalescerCounters } from './read-coalescer.js';
import { encodeMarked, encodeReceipt, encodeUnread, type ReadFrame } from './read-frames.js';
import { errText } from './err-text.js';

export interface ReceiptCounters extends CoalescerCounters {
  readsAccepted: number;
  /** `read` frames at or below the reader's mark as this process's command cache holds it: answered with no append. */
  readsCovered: number;
  readsRejected: number;
  receiptsSent: number;
  /** Unread counts taken from the cached chat state, and those that needed a read of the chat stream. */
  unreadFromCache: number;
  unreadFromStore: number;
}

export interface ReceiptsDeps {
  commands: CommandDeps;
  outbox: Outbox;
  connsOf: (userId: string) => Iterable<Conn>;
  logger: Logger;
  /** Maps a thrown error to the frame's code (client-frames.ts: an outage, a conflict, a bug). */
  errorCodeOf: (err: unknown) => WsErrorCode;
  /** WsConfig.readCoalesceMs: a (reader, chat)'s marks within this window of its last one go as one; 0: each alone. */
  coalesceMs?: number;
}

export interface Receipts {
  frame(conn: Conn, f: ReadFrame): Promise<void>;
  /** Every event of the log, in order: acts on ChatRead, and on MessageDeleted (the recipient's count drops). */
  onEvent(e: RecordedEvent): void;
  /** After a resume's backlog: both positions and my unread count for each chat named. */
  afterResume(conn: Conn, chatIds: readonly string[]): Promise<void>;
  readonly counters: ReceiptCounters;
  /** Starts the marks waiting for their window now (the gateway is closing). */
  flush(): void;
}

const STORE_PAGE = 256;

export function createReceipts(d: ReceiptsDeps): Receipts {
  const { commands, outbox, logger } = d;
  const counters: ReceiptCounters = {
    readsAccepted: 0, readsRejected: 0, readsCovered: 0, readMarksRun: 0, readsCoalesced: 0, receiptsSent: 0, unreadFromCache: 0, unreadFromStore: 0,
  };
  const coalescer = new ReadCoalescer(d.coalesceMs ?? 0, counters);

  /** The other participant's messages after `upTo` that are not deleted, and the revision counted through. */
  const countUnread = async (chatId: string, readerId: string, upTo: number): Promise<{ count: number; through: number }> => {
    const cached = commands.bus.cache.get<ChatState>(chatStreamId(chatId));
    if (cached && cached.revision >= upTo) {
      const count = countOthersAfter(cached.state, cached.revision, upTo, readerId);
      if (count !== null) {
        counters.unreadFromCache++;
        return { count, through: cached.revision };
      }
    }
    counters.unreadFromStore++;
    // A deletion follows its message in the stream: a message counted here and deleted later is uncounted.
    const counted = new Set<string>();
    let through = upTo;
    for (;;) {
      // Ids and senders only, which every version of these events has: the bodies may stay sealed.
      // Opening them cost about three quarters of a count's CPU, and a resume waits for its counts.
      const page = await commands.bus.store.readStream(chatStreamId(chatId), { fromRevision: through + 1, maxCount: STORE_PAGE, leaveSealed: true });
      for (const r of page) {
        const { messageId, senderId } = r.data as { messageId?: unknown; senderId?: unknown };
        if (typeof messageId === 'string') {
          if (r.type === 'MessageSent' && senderId !== readerId) counted.add(messageId);
          else if (r.type === 'MessageDeleted') counted.delete(messageId);
        }
        through = r.revision;
      }
      if (page.length < STORE_PAGE) return { count: counted.size, through };
    }
  };

  const sendUnread = (conns: Iterable<Conn>, chatId: string, readerId: string, upTo: number): Promise<void> =>
    countUnread(chatId, readerId, upTo).then(
      ({ count, through }) => {
        const frame = encodeUnread({ chatId, count, through });
        for (const conn of conns) if (!conn.closed) outbox.send(conn, frame);
      },
      (err: unknown) => logger.warn({ err: errText(err), chatId, userId: readerId }, 'unread count failed'),
    );

  /** A deleted message may have been unread: its recipient's sockets get a fresh count (one read of the reads streams). */
  const recountAfterDelete = (e: RecordedEvent): void => {
    const { chatId, senderId } = e.data as { chatId?: unknown; senderId?: unknown };
    if (typeof chatId !== 'string' || typeof senderId !== 'string' || e.streamId !== chatStreamId(chatId)) return;
    const pair = participantsOf(chatId);
    const recipient = pair?.find((u) => u !== senderId);
    if (!pair || !pair.includes(senderId) || recipient === undefined) return;
    const conns = [...d.connsOf(recipient)].filter((c) => !c.closed && c.resumed);
    if (conns.length === 0) return;
    readPositionsOf(commands.bus, chatId).then(
      (positions) => sendUnread(conns, chatId, recipient, positions[recipient] ?? 0),
      (err: unknown) => logger.warn({ err: errText(err), chatId, userId: recipient }, 'unread count after a deletion failed'),
    );
  };

  return {
    counters,
    flush: () => coalescer.flushAll(),

    async frame(conn, f) {
      // Membership is a property of the id (the sorted pair): an outsider is refused without a read.
      const member = otherParticipant(f.chatId, conn.userId);
      if ('refused' in member) return outbox.send(conn, encodeError(member.refused, { ref: f.ref, chatId: f.chatId }));
      const readerId = conn.userId;
      const key = readsStreamId(f.chatId, readerId);
      // The log keeps this cache current and marks only grow: a mark it holds is at most the real one.
      // An empty reads stream (revision -1) holds no mark, only the initial state a refused mark
      // (CHAT_NOT_FOUND) left behind: it must not answer `marked` for a chat that does not exist.
      const mine = commands.bus.cache.get<ReadState>(key);
      if (mine && mine.revision >= 0 && mine.state.upToRevision >= f.revision) {
        counters.readsCovered++;
        if (f.ref !== undefined) outbox.send(conn, encodeMarked({ ref: f.ref, chatId: f.chatId, upToRevision: mine.state.upToRevision, changed: false }));
        return;
      }
      const run = (upToRevision: number): Promise<CommandResult<ReadMarked>> => markRead(commands, { readerId, chatId: f.chatId, upToRevision });
      // Merged only when the cached chat shows the revision exists: a mark past the newest must be refused alone.
      const chat = commands.bus.cache.get<ChatState>(chatStreamId(f.chatId));
      const mergeable = chat !== undefined && chat.state.started && chat.revision >= f.revision;
      if (!mergeable) counters.readMarksRun++;
      try {
        const r = await (mergeable ? coalescer.mark(key, f.revision, run) : run(f.revision));
        if (!r.ok) {
          counters.readsRejected++;
          return outbox.send(conn, encodeError(r.error.code, { ref: f.ref, chatId: f.chatId }));
        }
        counters.readsAccepted++;
        // A `read` without a ref is a notification (as in JSON-RPC): no answer when accepted. Its
        // effect reaches every socket of the reader, this one included, as `receipt` and `unread`.
        if (f.ref !== undefined) outbox.send(conn, encodeMarked({ ref: f.ref, chatId: f.chatId, upToRevision: r.value.upToRevision, changed: r.value.changed }));
      } catch (err) {
        counters.readsRejected++;
        const code = d.errorCodeOf(err);
        logger[code === 'INTERNAL' ? 'error' : 'warn']({ err: errText(err), code, chatId: f.chatId, userId: readerId }, 'ws read failed');
        outbox.send(conn, encodeError(code, { ref: f.ref, chatId: f.chatId }));
      }
    },

    onEvent(e) {
      if (e.type === 'MessageDeleted') return void recountAfterDelete(e);
      if (e.type !== 'ChatRead' || !e.streamId.startsWith('reads-')) return;
      const data = e.data as { chatId?: unknown; readerId?: unknown; upToRevision?: unknown; at?: unknown };
      const { chatId, readerId, upToRevision, at } = data;
      if (typeof chatId !== 'string' || typeof readerId !== 'string' || typeof upToRevision !== 'number' || typeof at !== 'string') return;
      const pair = participantsOf(chatId);
      if (!pair || !pair.includes(readerId)) return;
      const frame = encodeReceipt({ chatId, userId: readerId, upToRevision, at });
      for (const userId of pair) {
        for (const conn of d.connsOf(userId)) {
          if (conn.closed || !conn.resumed) continue;
          outbox.send(conn, frame);
          counters.receiptsSent++;
        }
      }
      const mine = [...d.connsOf(readerId)].filter((c) => !c.closed && c.resumed);
      if (mine.length > 0) void sendUnread(mine, chatId, readerId, upToRevision);
    },

    async afterResume(conn, chatIds) {
      await Promise.all(chatIds.map(async (chatId) => {
        try {
          const positions = await readPositionsOf(commands.bus, chatId);
          if (conn.closed) return;
          for (const [userId, upToRevision] of Object.entries(positions)) {
            if (upToRevision > 0) outbox.send(conn, encodeReceipt({ chatId, userId, upToRevision }));
          }
          await sendUnread([conn], chatId, conn.userId, positions[conn.userId] ?? 0);
        } catch (err) {
          // The backlog is what a resume promises; read state comes again with the next receipt.
          logger.warn({ err: errText(err), chatId, conn: conn.id }, 'read state after resume failed');
        }
      }));
    },
  };
}
