/**
 * messages: every message of every chat, keyed by (chat, stream revision); re-inserting one is a
 * no-op. Edits and deletions land through message-changes.ts; chatHistory is what the API reads.
 */
import { EntitySchema } from '@mikro-orm/core';
import { anyText, text, time } from './fields.js';
import { applyMessageChanges, changesEntity } from './message-changes.js';
import { byKey, columnList, columnsOf, eventsOfType, type ProjectionEvent, type SqlProjection } from './projection.js';
import { InvalidQueryError, clampLimit } from './ports/page.js';
import type { ReadModelDb } from './ports/read-model.js';
import { toDate, type SqlParam } from './ports/sql.js';

/** messages: the history of every chat, keyed by (chat, stream revision). */
export interface MessageRow {
  chatId: string;
  revision: number;
  messageId: string;
  senderId: string;
  clientMessageId: string;
  body: string;
  sentAt: Date;
  position: bigint;
  /** Set by the last MessageEdited; body is then the edited text. */
  editedAt: Date | null;
  /** Set by MessageDeleted; body is then '' (a deleted message's text is kept nowhere but the log). */
  deletedAt: Date | null;
  /** Revision of the event that last changed the body: an older edit delivered again changes nothing. */
  changedRevision: number | null;
}

export const MessageEntity = new EntitySchema<MessageRow>({
  name: 'MessageRow',
  tableName: 'messages',
  properties: {
    chatId: { type: 'string', primary: true, fieldName: 'chat_id' },
    revision: { type: 'integer', primary: true },
    messageId: { type: 'string', unique: true, fieldName: 'message_id' },
    senderId: { type: 'string', fieldName: 'sender_id' },
    clientMessageId: { type: 'string', fieldName: 'client_message_id' },
    body: { type: 'text' },
    sentAt: { type: 'datetime', fieldName: 'sent_at' },
    position: { type: 'bigint' },
    editedAt: { type: 'datetime', nullable: true, fieldName: 'edited_at' },
    deletedAt: { type: 'datetime', nullable: true, fieldName: 'deleted_at' },
    changedRevision: { type: 'integer', nullable: true, fieldName: 'changed_revision' },
  },
});

/**
 * message_changes: the latest edit or the delete of each changed message, kept by the messages
 * projection so a change that arrives before its message (a parked message, retried) still reaches it.
 * body is '' once deleted, and blanked on the sender's erasure, like messages.body.
 */
export interface MessageChangeRow {
  messageId: string;
  chatId: string;
  senderId: string;
  body: string;
  editedAt: Date | null;
  deletedAt: Date | null;
  changedRevision: number;
}

export const MessageChangeEntity = changesEntity('MessageChangeRow', 'message_changes');

/** The users a batch erases (UserErased), each once, in a fixed order. */
export const erasedUsers = (events: readonly ProjectionEvent[]): string[] =>
  [...new Set(eventsOfType(events, 'UserErased').map((e) => text(e.event.data, 'userId')))].sort();

/** What a MessageSent inserts: edits and deletions fill the rest (message-changes.ts). */
const COLUMNS = columnsOf(MessageEntity, { omit: ['edited_at', 'deleted_at', 'changed_revision'] });

export const messagesProjection: SqlProjection = {
  name: 'messages',
  version: 1,
  // UserErased: the sender's bodies go at once (docs/privacy.md); replays read them as erased anyway.
  handles: ['MessageSent', 'MessageEdited', 'MessageDeleted', 'UserErased'],
  // Rows are keyed by (chat, revision): a parked message leaves only its own slot empty until the
  // retry fills it, while every chat's history keeps flowing through a rolling upgrade.
  onUnknown: 'park-and-continue',
  // No inbox rows (projection.ts): a message row is inserted once per key (ON CONFLICT DO NOTHING, also
  // between two projectors at once: the second waits on the first's row, then does nothing); a change
  // is kept only when newer by revision, and a delete is final; an erasure blanks bodies again. So a
  // redelivery, late or concurrent, writes nothing new. chats and reads, which handle every type this
  // one does, keep their inbox, so a batch still reports redeliveries as duplicates.
  idempotent: true,
  entities: [MessageEntity, MessageChangeEntity],
  async apply(tx, events) {
    const rows = eventsOfType(events, 'MessageSent').map((e) => {
      const d = e.event.data;
      return {
        chat_id: text(d, 'chatId'),
        revision: e.revision,
        message_id: text(d, 'messageId'),
        sender_id: text(d, 'senderId'),
        client_message_id: text(d, 'clientMessageId'),
        body: anyText(d, 'body'),
        sent_at: time(d, 'sentAt'),
        position: e.position.toString(),
      };
    });
    if (rows.length > 0) {
      await tx.run(
        `INSERT INTO ${tx.table('messages')} (${columnList(COLUMNS)})
         ${tx.sql.rowsFrom(COLUMNS)}
         ON CONFLICT DO NOTHING`,
        [tx.sql.encodeRows(COLUMNS, byKey(rows, 'message_id'))],
      );
    }
    await applyMessageChanges(tx, events, rows.map((r) => r.message_id));
    // After the inserts: a body opened before the key was destroyed, in this batch or an earlier one, goes too.
    for (const userId of erasedUsers(events)) {
      await tx.run(`UPDATE ${tx.table('messages')} SET body = '' WHERE sender_id = ? AND body <> ''`, [userId]);
      await tx.run(`UPDATE ${tx.table('message_changes')} SET body = '' WHERE sender_id = ? AND body <> ''`, [userId]);
    }
  },
};

// ---------------------------------------------------------------------------------------------
// What the API reads: a chat's history, newest first, paged backwards by stream revision (`before`).

/** Revisions are PostgreSQL integers (int4). */
export const MAX_REVISION = 2_147_483_647;

export interface HistoryQuery {
  chatId: string;
  /** Only messages with a revision below this one (the previous page's nextBefore). */
  before?: number;
  limit?: number;
}

/** A row as the API shows it: without the projection's bookkeeping, and deletedAt only as a flag. */
export interface MessageEntry extends Omit<MessageRow, 'position' | 'deletedAt' | 'changedRevision'> {
  /** Deleted for everyone: body is ''. */
  deleted: boolean;
}

export interface HistoryPage {
  items: MessageEntry[];
  /** Pass as `before` for older messages; null at the start of the chat. */
  nextBefore: number | null;
}

export async function chatHistory(db: ReadModelDb, q: HistoryQuery): Promise<HistoryPage> {
  const limit = clampLimit(q.limit);
  if (q.before !== undefined && (!Number.isInteger(q.before) || q.before < 0 || q.before > MAX_REVISION)) throw new InvalidQueryError('before must be a revision', 'before');
  const params: SqlParam[] = q.before === undefined ? [q.chatId, limit + 1] : [q.chatId, q.before, limit + 1];
  const rows = await db.query<{
    chat_id: string; revision: number | string; message_id: string; sender_id: string; client_message_id: string;
    body: string; sent_at: unknown; edited_at: unknown; deleted_at: unknown;
  }>(
    `SELECT chat_id, revision, message_id, sender_id, client_message_id, body, sent_at, edited_at, deleted_at
     FROM ${db.sql.table('messages')} WHERE chat_id = ?${q.before === undefined ? '' : ' AND revision < ?'}
     ORDER BY revision DESC LIMIT ?`,
    params,
  );
  const more = rows.length > limit;
  const items = (more ? rows.slice(0, limit) : rows).map((r) => ({
    chatId: r.chat_id, revision: Number(r.revision), messageId: r.message_id, senderId: r.sender_id,
    clientMessageId: r.client_message_id, body: r.body, sentAt: toDate(r.sent_at)!, editedAt: toDate(r.edited_at), deleted: r.deleted_at != null,
  }));
  return { items, nextBefore: more ? items[items.length - 1]!.revision : null };
}
