/**
 * chats: one row per chat with its participants and its last message. The last message is kept
 * only if its stream revision is higher than the stored one, so any delivery order converges; and
 * ChatStarted fills only the chat's own columns, so one arriving after a MessageSent keeps the last
 * message.
 */
import { EntitySchema } from '@mikro-orm/core';
import { anyText, pair, text, time } from './fields.js';
import { erasedUsers } from './messages.js';
import { applyPreviewChanges, ChatPreviewChangeEntity, PREVIEW_CHANGES } from './message-changes.js';
import { byKey, columnList, columnsOf, eventsOfType, type SqlProjection } from './projection.js';
import { clampLimit, decodeCursor, toPage, type Page } from './ports/page.js';
import type { ReadModelDb } from './ports/read-model.js';
import { toDate, type SqlParam } from './ports/sql.js';

/**
 * chats: one row per chat with its last message. Participant columns are nullable because a
 * MessageSent can be delivered before its ChatStarted; the last message is guarded by revision.
 */
export interface ChatRow {
  chatId: string;
  participantA: string | null;
  participantB: string | null;
  startedBy: string | null;
  startedAt: Date | null;
  lastMessageRevision: number | null;
  lastMessageBody: string | null;
  lastMessageSender: string | null;
  lastMessageAt: Date | null;
  lastMessageId: string | null;
  lastMessageEditedAt: Date | null;
  /** Set when the last message was deleted: its body is then ''. */
  lastMessageDeletedAt: Date | null;
}

export const ChatEntity = new EntitySchema<ChatRow>({
  name: 'ChatRow',
  tableName: 'chats',
  properties: {
    chatId: { type: 'string', primary: true, fieldName: 'chat_id' },
    participantA: { type: 'string', nullable: true, fieldName: 'participant_a' },
    participantB: { type: 'string', nullable: true, fieldName: 'participant_b' },
    startedBy: { type: 'string', nullable: true, fieldName: 'started_by' },
    startedAt: { type: 'datetime', nullable: true, fieldName: 'started_at' },
    lastMessageRevision: { type: 'integer', nullable: true, fieldName: 'last_message_revision' },
    lastMessageBody: { type: 'text', nullable: true, fieldName: 'last_message_body' },
    lastMessageSender: { type: 'string', nullable: true, fieldName: 'last_message_sender' },
    lastMessageAt: { type: 'datetime', nullable: true, fieldName: 'last_message_at' },
    lastMessageId: { type: 'string', nullable: true, fieldName: 'last_message_id' },
    lastMessageEditedAt: { type: 'datetime', nullable: true, fieldName: 'last_message_edited_at' },
    lastMessageDeletedAt: { type: 'datetime', nullable: true, fieldName: 'last_message_deleted_at' },
  },
});

interface ChatUpsert {
  chat_id: string;
  participant_a: string | null;
  participant_b: string | null;
  started_by: string | null;
  started_at: string | null;
  last_message_revision: number | null;
  last_message_body: string | null;
  last_message_sender: string | null;
  last_message_at: string | null;
  last_message_id: string | null;
}

/** What an upsert writes: the edit and delete marks are the message-changes' (message-changes.ts). */
const COLUMNS = columnsOf(ChatEntity, { omit: ['last_message_edited_at', 'last_message_deleted_at'] });

const NEWER = 'excluded.last_message_revision IS NOT NULL AND (cur.last_message_revision IS NULL OR excluded.last_message_revision > cur.last_message_revision)';
const lastMessage = (col: string): string => `${col} = CASE WHEN ${NEWER} THEN excluded.${col} ELSE cur.${col} END`;

export const chatsProjection: SqlProjection = {
  name: 'chats',
  // 2: a change delivered before its message reaches the preview (chat_preview_changes): rebuild to fill it.
  version: 2,
  handles: ['ChatStarted', 'MessageSent', 'MessageEdited', 'MessageDeleted', 'UserErased'],
  // The last message is guarded by revision and ChatStarted fills only its own columns: a retried
  // event converges like any late delivery, and the other chats must not freeze meanwhile.
  onUnknown: 'park-and-continue',
  entities: [ChatEntity, ChatPreviewChangeEntity],
  async apply(tx, events) {
    const rows = new Map<string, ChatUpsert>();
    const row = (chatId: string): ChatUpsert => {
      let r = rows.get(chatId);
      if (!r) {
        r = {
          chat_id: chatId, participant_a: null, participant_b: null, started_by: null, started_at: null,
          last_message_revision: null, last_message_body: null, last_message_sender: null, last_message_at: null, last_message_id: null,
        };
        rows.set(chatId, r);
      }
      return r;
    };
    for (const e of eventsOfType(events, 'ChatStarted')) {
      const r = row(text(e.event.data, 'chatId'));
      [r.participant_a, r.participant_b] = pair(e.event.data, 'participants');
      r.started_by = text(e.event.data, 'startedBy');
      r.started_at = time(e.event.data, 'at');
    }
    for (const e of eventsOfType(events, 'MessageSent')) {
      const d = e.event.data;
      const r = row(text(d, 'chatId'));
      const body = anyText(d, 'body');
      const sender = text(d, 'senderId');
      const at = time(d, 'sentAt');
      if (r.last_message_revision === null || e.revision > r.last_message_revision) {
        r.last_message_revision = e.revision;
        r.last_message_body = body;
        r.last_message_sender = sender;
        r.last_message_at = at;
        r.last_message_id = text(d, 'messageId');
      }
    }
    if (rows.size > 0) await upsert(tx, rows);
    // After the upsert: a chat whose last message this batch set, or whose message it changed, is
    // brought up to that message's latest change, whichever came first.
    await applyPreviewChanges(tx, events, rows.keys());
    // A preview of an erased user's message goes at once (docs/privacy.md); replays read it as erased anyway.
    for (const userId of erasedUsers(events)) {
      await tx.run(`UPDATE ${tx.table('chats')} SET last_message_body = '' WHERE last_message_sender = ? AND last_message_body <> ''`, [userId]);
      await tx.run(`UPDATE ${tx.table(PREVIEW_CHANGES)} SET body = '' WHERE sender_id = ? AND body <> ''`, [userId]);
    }
  },
};

async function upsert(tx: Parameters<SqlProjection['apply']>[0], rows: Map<string, ChatUpsert>): Promise<void> {
  await tx.run(
    `INSERT INTO ${tx.table('chats')} AS cur (${columnList(COLUMNS)})
     ${tx.sql.rowsFrom(COLUMNS)}
     ON CONFLICT (chat_id) DO UPDATE SET
       participant_a = COALESCE(excluded.participant_a, cur.participant_a),
       participant_b = COALESCE(excluded.participant_b, cur.participant_b),
       started_by = COALESCE(excluded.started_by, cur.started_by),
       started_at = COALESCE(excluded.started_at, cur.started_at),
       ${['last_message_revision', 'last_message_body', 'last_message_sender', 'last_message_at', 'last_message_id'].map(lastMessage).join(',\n         ')},
       last_message_edited_at = CASE WHEN ${NEWER} THEN NULL ELSE cur.last_message_edited_at END,
       last_message_deleted_at = CASE WHEN ${NEWER} THEN NULL ELSE cur.last_message_deleted_at END`,
    [tx.sql.encodeRows(COLUMNS, byKey([...rows.values()], 'chat_id') as unknown as Record<string, unknown>[])],
  );
}

// ---------------------------------------------------------------------------------------------
// What the API reads: a user's chats with the other participant and the last message, newest
// activity first (the last message's time, or the start for a chat without messages), paged by
// (activity time, chat id).

export interface UserChatsQuery {
  userId: string;
  limit?: number;
  cursor?: string;
}

export interface ChatEntry {
  chatId: string;
  otherUserId: string;
  /** Null while the other user's registration has not reached the read model. */
  otherUsername: string | null;
  /** The other user erased their account (users.erased_at): the chat takes no new messages. */
  otherErased: boolean;
  startedBy: string | null;
  startedAt: Date | null;
  /** `messageId`: the message's own id, so a client can match an edit or delete of it (MessageEdited/MessageDeleted). */
  lastMessage: { revision: number; messageId: string; body: string; senderId: string; at: Date; edited: boolean; deleted: boolean } | null;
  activityAt: Date;
  /** The other participant's messages beyond my read position (read_positions). */
  unread: number;
  /** How far I, and the other participant, have read (0: nothing). */
  readUpTo: number;
  otherReadUpTo: number;
}

interface Row {
  chat_id: string;
  participant_a: string;
  participant_b: string;
  started_by: string | null;
  started_at: unknown;
  last_message_revision: number | null;
  last_message_body: string | null;
  last_message_sender: string | null;
  last_message_at: unknown;
  last_message_id: string | null;
  last_message_edited_at: unknown;
  last_message_deleted_at: unknown;
  activity_at: unknown;
  other_username: string | null;
  /** A boolean on PostgreSQL, 0 or 1 on SQLite. */
  other_erased: boolean | number | null;
  unread: number | null;
  read_up_to: number | null;
  other_read_up_to: number | null;
}

export async function userChats(db: ReadModelDb, q: UserChatsQuery): Promise<Page<ChatEntry>> {
  const limit = clampLimit(q.limit);
  const sql = db.sql;
  const activity = 'COALESCE(c.last_message_at, c.started_at)';
  const params: SqlParam[] = [q.userId, q.userId, q.userId, q.userId, q.userId];
  let cursorSql = '';
  if (q.cursor) {
    const [ms, chatId] = decodeCursor(q.cursor, ['time', 'string']) as [number, string];
    const at = sql.time(new Date(ms));
    cursorSql = `AND (${activity} < ? OR (${activity} = ? AND c.chat_id > ?))`;
    params.push(at, at, chatId);
  }
  params.push(limit + 1);
  const rows = await db.query<Row>(
    `SELECT c.*, ${activity} AS activity_at, u.username AS other_username, u.erased_at IS NOT NULL AS other_erased,
       mine.unread AS unread, mine.up_to_revision AS read_up_to, theirs.up_to_revision AS other_read_up_to
     FROM ${sql.table('chats')} c
     LEFT JOIN ${sql.table('users')} u ON u.user_id = CASE WHEN c.participant_a = ? THEN c.participant_b ELSE c.participant_a END
     LEFT JOIN ${sql.table('read_positions')} mine ON mine.chat_id = c.chat_id AND mine.user_id = ?
     LEFT JOIN ${sql.table('read_positions')} theirs ON theirs.chat_id = c.chat_id AND theirs.user_id <> ?
     WHERE (c.participant_a = ? OR c.participant_b = ?) ${cursorSql}
     ORDER BY ${activity} DESC, c.chat_id ASC
     LIMIT ?`,
    params,
  );
  return toPage(
    rows,
    limit,
    (r) => {
      const lastAt = toDate(r.last_message_at);
      return {
        chatId: r.chat_id,
        otherUserId: r.participant_a === q.userId ? r.participant_b : r.participant_a,
        otherUsername: r.other_username,
        otherErased: r.other_erased === true || r.other_erased === 1,
        startedBy: r.started_by,
        startedAt: toDate(r.started_at),
        lastMessage:
          r.last_message_revision !== null && lastAt
            ? { revision: Number(r.last_message_revision), messageId: r.last_message_id ?? '', body: r.last_message_body ?? '', senderId: r.last_message_sender ?? '', at: lastAt,
                edited: r.last_message_edited_at != null, deleted: r.last_message_deleted_at != null }
            : null,
        activityAt: toDate(r.activity_at)!,
        unread: Number(r.unread ?? 0),
        readUpTo: Number(r.read_up_to ?? 0),
        otherReadUpTo: Number(r.other_read_up_to ?? 0),
      };
    },
    (r) => [toDate(r.activity_at)!.getTime(), r.chat_id],
  );
}

/** The sum of a user's unread counts over all their chats. */
export async function unreadTotal(db: ReadModelDb, userId: string): Promise<number> {
  const sql = db.sql;
  const rows = await db.query<{ total: unknown }>(`SELECT COALESCE(SUM(unread), 0) AS total FROM ${sql.table('read_positions')} WHERE user_id = ?`, [userId]);
  return Number(rows[0]?.total ?? 0);
}
