/**
 * reads: each participant's read position per chat and their unread count (the other participant's
 * messages beyond it), from ChatRead, MessageSent and MessageDeleted: a deleted message is not unread.
 *
 * Order-independent and idempotent: a position only moves up (its time with it); an unread message
 * is kept as a row only while it lies beyond the reader's position, and the count is recounted from
 * those rows, never incremented. Concurrent projectors (PostgreSQL, READ COMMITTED): every batch
 * first upserts the (chat, user) rows it touches, in key order, which locks them until commit; the
 * statements after it see whatever another batch committed for those keys before, so a message and
 * the read that covers it, applied side by side, cannot leave a stale row or count behind.
 * A deletion is kept as a row of its own (read_deleted_messages), so a MessageSent delivered after the
 * MessageDeleted of its message is not counted either; both touch the recipient's position, so they
 * serialise on its lock like a message and a read.
 */
import { EntitySchema } from '@mikro-orm/core';
import { ProjectionDataError, text, time } from './fields.js';
import { columnsOf, eventsOfType, type SqlProjection } from './projection.js';

/**
 * read_positions: how far each participant has read each chat (0: nothing, revision 0 is
 * ChatStarted), when, and how many of the other participant's messages lie beyond it. A row exists
 * once the user has read or been sent something in the chat.
 */
export interface ReadPositionRow {
  chatId: string;
  userId: string;
  upToRevision: number;
  readAt: Date | null;
  unread: number;
}

export const ReadPositionEntity = new EntitySchema<ReadPositionRow>({
  name: 'ReadPositionRow',
  tableName: 'read_positions',
  properties: {
    chatId: { type: 'string', primary: true, fieldName: 'chat_id' },
    userId: { type: 'string', primary: true, fieldName: 'user_id' },
    upToRevision: { type: 'integer', fieldName: 'up_to_revision' },
    readAt: { type: 'datetime', nullable: true, fieldName: 'read_at' },
    unread: { type: 'integer' },
  },
});

/**
 * unread_messages: the other participant's messages a user has not read yet, by revision. The
 * unread count is always recounted from these rows, so a message delivered twice or after the read
 * that covers it is never counted wrong.
 */
export interface UnreadMessageRow {
  chatId: string;
  userId: string;
  revision: number;
  /** Null on rows projected before deletions were followed (migration 0005). */
  messageId: string | null;
}

export const UnreadMessageEntity = new EntitySchema<UnreadMessageRow>({
  name: 'UnreadMessageRow',
  tableName: 'unread_messages',
  properties: {
    chatId: { type: 'string', primary: true, fieldName: 'chat_id' },
    userId: { type: 'string', primary: true, fieldName: 'user_id' },
    revision: { type: 'integer', primary: true },
    messageId: { type: 'string', nullable: true, fieldName: 'message_id' },
  },
});

/**
 * read_deleted_messages: the chats' deleted messages, as far as unread counts go: a message deleted
 * is never counted, even when its MessageSent is delivered after its MessageDeleted.
 */
export interface ReadDeletedMessageRow {
  chatId: string;
  messageId: string;
}

export const ReadDeletedMessageEntity = new EntitySchema<ReadDeletedMessageRow>({
  name: 'ReadDeletedMessageRow',
  tableName: 'read_deleted_messages',
  properties: {
    chatId: { type: 'string', primary: true, fieldName: 'chat_id' },
    messageId: { type: 'string', primary: true, fieldName: 'message_id' },
  },
});

const POSITION_COLUMNS = columnsOf(ReadPositionEntity);
const MESSAGE_COLUMNS = columnsOf(UnreadMessageEntity);
const DELETED_COLUMNS = columnsOf(ReadDeletedMessageEntity);
const KEY_COLUMNS = columnsOf(ReadPositionEntity, { only: ['chat_id', 'user_id'] });

interface Position {
  chat_id: string;
  user_id: string;
  up_to_revision: number;
  read_at: string | null;
  unread: number;
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const key = (chatId: string, userId: string): string => `${chatId}\u0000${userId}`;

/** The participant who did not send: chat ids are the sorted pair joined by ':' (domain/chat-id.ts). */
function recipientOf(chatId: string, senderId: string): string {
  const parts = chatId.split(':');
  if (parts.length !== 2 || !parts[0] || !parts[1] || !parts.includes(senderId)) {
    throw new ProjectionDataError('data.chatId must be a pair of user ids including data.senderId');
  }
  return parts[0] === senderId ? parts[1] : parts[0];
}

function revisionOf(data: unknown): number {
  const v = (data as Record<string, unknown>)['upToRevision'];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ProjectionDataError('data.upToRevision must be a whole number, 0 or more');
  return v;
}

export const readsProjection: SqlProjection = {
  name: 'reads',
  // 2: deleted messages are no longer counted (rows of version 1 carry no message id: rebuild).
  version: 2,
  handles: ['MessageSent', 'ChatRead', 'MessageDeleted'],
  // Counts: one short by a message this release cannot read would be wrong with no way to tell (as
  // messages-per-user-per-day); stopped, they stay those of a complete prefix of the log.
  onUnknown: 'park-and-stop',
  entities: [ReadPositionEntity, UnreadMessageEntity, ReadDeletedMessageEntity],
  async apply(tx, events) {
    const positions = new Map<string, Position>();
    const touch = (chatId: string, userId: string): Position => {
      const k = key(chatId, userId);
      let p = positions.get(k);
      if (!p) positions.set(k, (p = { chat_id: chatId, user_id: userId, up_to_revision: 0, read_at: null, unread: 0 }));
      return p;
    };
    const messages: Array<{ chat_id: string; user_id: string; revision: number; message_id: string }> = [];
    const deletions: Array<{ chat_id: string; message_id: string }> = [];
    for (const e of eventsOfType(events, 'ChatRead')) {
      const d = e.event.data;
      const p = touch(text(d, 'chatId'), text(d, 'readerId'));
      const upTo = revisionOf(d);
      const at = time(d, 'at');
      if (upTo > p.up_to_revision) {
        p.up_to_revision = upTo;
        p.read_at = at;
      }
    }
    for (const e of eventsOfType(events, 'MessageSent')) {
      const d = e.event.data;
      const chatId = text(d, 'chatId');
      const recipient = recipientOf(chatId, text(d, 'senderId'));
      touch(chatId, recipient);
      messages.push({ chat_id: chatId, user_id: recipient, revision: e.revision, message_id: text(d, 'messageId') });
    }
    for (const e of eventsOfType(events, 'MessageDeleted')) {
      const d = e.event.data;
      const chatId = text(d, 'chatId');
      touch(chatId, recipientOf(chatId, text(d, 'senderId')));
      deletions.push({ chat_id: chatId, message_id: text(d, 'messageId') });
    }
    if (positions.size === 0) return;
    const rows = [...positions.values()].sort((a, b) => compare(a.chat_id, b.chat_id) || compare(a.user_id, b.user_id));
    const keys = tx.sql.encodeRows(KEY_COLUMNS, rows as unknown as Record<string, unknown>[]);
    const P = tx.table('read_positions');
    const U = tx.table('unread_messages');
    // 1. Lock (and create) every touched position in key order; a position only moves up.
    await tx.run(
      `INSERT INTO ${P} AS cur (chat_id, user_id, up_to_revision, read_at, unread)
       ${tx.sql.rowsFrom(POSITION_COLUMNS)}
       ON CONFLICT (chat_id, user_id) DO UPDATE SET
         read_at = CASE WHEN excluded.up_to_revision > cur.up_to_revision THEN excluded.read_at ELSE cur.read_at END,
         up_to_revision = CASE WHEN excluded.up_to_revision > cur.up_to_revision THEN excluded.up_to_revision ELSE cur.up_to_revision END`,
      [tx.sql.encodeRows(POSITION_COLUMNS, rows as unknown as Record<string, unknown>[])],
    );
    // 2. Deletions first, so a message of this batch that is also deleted in it is never counted.
    const D = tx.table('read_deleted_messages');
    if (deletions.length > 0) {
      deletions.sort((a, b) => compare(a.chat_id, b.chat_id) || compare(a.message_id, b.message_id));
      const encoded = tx.sql.encodeRows(DELETED_COLUMNS, deletions as unknown as Record<string, unknown>[]);
      // `WHERE true`: SQLite would read ON CONFLICT after a bare FROM as a join's ON.
      await tx.run(`INSERT INTO ${D} (chat_id, message_id) SELECT d.chat_id, d.message_id FROM (${tx.sql.rowsFrom(DELETED_COLUMNS)}) d
         WHERE true ON CONFLICT DO NOTHING`, [encoded]);
      await tx.run(
        `DELETE FROM ${U} WHERE EXISTS (SELECT 1 FROM (${tx.sql.rowsFrom(DELETED_COLUMNS)}) d WHERE d.chat_id = ${U}.chat_id AND d.message_id = ${U}.message_id)`,
        [encoded],
      );
    }
    // 3. Messages beyond their recipient's position, and not deleted, are unread.
    if (messages.length > 0) {
      messages.sort((a, b) => compare(a.chat_id, b.chat_id) || compare(a.user_id, b.user_id) || a.revision - b.revision);
      await tx.run(
        `INSERT INTO ${U} (chat_id, user_id, revision, message_id)
         SELECT m.chat_id, m.user_id, m.revision, m.message_id FROM (${tx.sql.rowsFrom(MESSAGE_COLUMNS)}) m
         JOIN ${P} p ON p.chat_id = m.chat_id AND p.user_id = m.user_id
         WHERE m.revision > p.up_to_revision
           AND NOT EXISTS (SELECT 1 FROM ${D} d WHERE d.chat_id = m.chat_id AND d.message_id = m.message_id)
         ON CONFLICT DO NOTHING`,
        [tx.sql.encodeRows(MESSAGE_COLUMNS, messages as unknown as Record<string, unknown>[])],
      );
    }
    // 4. What a position now covers is read; 5. the counts are recounted from what is left.
    await tx.run(
      `DELETE FROM ${U}
       WHERE EXISTS (SELECT 1 FROM (${tx.sql.rowsFrom(KEY_COLUMNS)}) k WHERE k.chat_id = ${U}.chat_id AND k.user_id = ${U}.user_id)
         AND revision <= (SELECT p.up_to_revision FROM ${P} p WHERE p.chat_id = ${U}.chat_id AND p.user_id = ${U}.user_id)`,
      [keys],
    );
    await tx.run(
      `UPDATE ${P} SET unread = (SELECT COUNT(*) FROM ${U} u WHERE u.chat_id = ${P}.chat_id AND u.user_id = ${P}.user_id)
       WHERE EXISTS (SELECT 1 FROM (${tx.sql.rowsFrom(KEY_COLUMNS)}) k WHERE k.chat_id = ${P}.chat_id AND k.user_id = ${P}.user_id)`,
      [keys],
    );
  },
};
