/**
 * A user's chats with the other participant and the last message, newest activity first (the last
 * message's time, or the start for a chat without messages), paged by (activity time, chat id).
 */
import { emOf, sqlOf, sqlQuery, type ReadModelOrm } from '../orm.js';
import { toDate, type SqlParam } from '../sql.js';
import { clampLimit, decodeCursor, toPage, type Page } from './page.js';

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
  startedBy: string | null;
  startedAt: Date | null;
  lastMessage: { revision: number; body: string; senderId: string; at: Date; edited: boolean; deleted: boolean } | null;
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
  last_message_edited_at: unknown;
  last_message_deleted_at: unknown;
  activity_at: unknown;
  other_username: string | null;
  unread: number | null;
  read_up_to: number | null;
  other_read_up_to: number | null;
}

export async function userChats(orm: ReadModelOrm, q: UserChatsQuery): Promise<Page<ChatEntry>> {
  const limit = clampLimit(q.limit);
  const sql = sqlOf(orm);
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
  const rows = (await sqlQuery(
    emOf(orm),
    `SELECT c.*, ${activity} AS activity_at, u.username AS other_username,
       mine.unread AS unread, mine.up_to_revision AS read_up_to, theirs.up_to_revision AS other_read_up_to
     FROM ${sql.table('chats')} c
     LEFT JOIN ${sql.table('users')} u ON u.user_id = CASE WHEN c.participant_a = ? THEN c.participant_b ELSE c.participant_a END
     LEFT JOIN ${sql.table('read_positions')} mine ON mine.chat_id = c.chat_id AND mine.user_id = ?
     LEFT JOIN ${sql.table('read_positions')} theirs ON theirs.chat_id = c.chat_id AND theirs.user_id <> ?
     WHERE (c.participant_a = ? OR c.participant_b = ?) ${cursorSql}
     ORDER BY ${activity} DESC, c.chat_id ASC
     LIMIT ?`,
    params,
  )) as Row[];
  return toPage(
    rows,
    limit,
    (r) => {
      const lastAt = toDate(r.last_message_at);
      return {
        chatId: r.chat_id,
        otherUserId: r.participant_a === q.userId ? r.participant_b : r.participant_a,
        otherUsername: r.other_username,
        startedBy: r.started_by,
        startedAt: toDate(r.started_at),
        lastMessage:
          r.last_message_revision !== null && lastAt
            ? { revision: Number(r.last_message_revision), body: r.last_message_body ?? '', senderId: r.last_message_sender ?? '', at: lastAt,
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
export async function unreadTotal(orm: ReadModelOrm, userId: string): Promise<number> {
  const sql = sqlOf(orm);
  const rows = (await sqlQuery(emOf(orm), `SELECT COALESCE(SUM(unread), 0) AS total FROM ${sql.table('read_positions')} WHERE user_id = ?`, [userId])) as Array<{ total: unknown }>;
  return Number(rows[0]?.total ?? 0);
}
