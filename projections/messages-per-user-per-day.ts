/**
 * messages-per-user-per-day: how many messages each user sent on each UTC day, in message_counts
 * (user_id, day, count).
 *
 * Idempotent by a unique message table rather than by trusting the inbox: every message id is
 * recorded in counted_messages (primary key user_id, day, message_id) and a count only grows by the
 * ids its own INSERT ... ON CONFLICT DO NOTHING RETURNING actually inserted. So:
 * - a redelivered message inserts no id and adds 0 (even past the inbox: a dead-letter retry, a replay);
 * - any delivery order gives the same counts (additions commute);
 * - two projectors at once count an id once: the second insert of an id waits on the first and then
 *   returns nothing, and `count = cur.count + excluded.count` adds to the latest committed count.
 *   (Recounting the ids with a subquery would not be safe here: the subquery reads the statement's
 *   snapshot, so a concurrent batch's ids would be missed and its increment overwritten.)
 * The day is the UTC date of sentAt, the time the message was accepted.
 */
import { EntitySchema } from '@mikro-orm/core';
import { text, time } from './fields.js';
import { columnList, columnsOf, eventsOfType, type SqlProjection } from './projection.js';
import { InvalidQueryError } from './ports/page.js';
import type { ReadModelDb } from './ports/read-model.js';
import type { SqlParam } from './ports/sql.js';

/** message_counts: messages sent per user per UTC day ('YYYY-MM-DD'), keyed (user_id, day); a day without messages has no row. */
export interface MessageCountRow {
  userId: string;
  day: string;
  count: number;
}

export const MessageCountEntity = new EntitySchema<MessageCountRow>({
  name: 'MessageCountRow',
  tableName: 'message_counts',
  properties: {
    userId: { type: 'string', primary: true, fieldName: 'user_id' },
    day: { type: 'string', primary: true },
    count: { type: 'integer' },
  },
});

/** counted_messages: the message ids behind each count; only an id inserted here for the first time adds to its count. */
export interface CountedMessageRow {
  userId: string;
  day: string;
  messageId: string;
}

export const CountedMessageEntity = new EntitySchema<CountedMessageRow>({
  name: 'CountedMessageRow',
  tableName: 'counted_messages',
  properties: {
    userId: { type: 'string', primary: true, fieldName: 'user_id' },
    day: { type: 'string', primary: true },
    messageId: { type: 'string', primary: true, fieldName: 'message_id' },
  },
});

const ID_COLUMNS = columnsOf(CountedMessageEntity);
const COUNT_COLUMNS = columnsOf(MessageCountEntity);

interface Counted {
  user_id: string;
  day: string;
  message_id: string;
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const dayKey = (userId: string, day: string): string => `${userId}\u0000${day}`;

/** The UTC calendar day of an ISO time. */
export const utcDay = (iso: string): string => iso.slice(0, 10);

export const messagesPerUserPerDayProjection: SqlProjection = {
  name: 'messages-per-user-per-day',
  version: 1,
  handles: ['MessageSent'],
  // Counts are aggregates: one silently short by a parked message is wrong with no way for a reader to
  // tell. Stopped, the counts stay those of a complete prefix of the log, stale only for the length
  // of the upgrade, and `chat projections status` says where they stopped.
  onUnknown: 'park-and-stop',
  // No inbox rows (projection.ts): counted_messages is this projection's own inbox, keyed by message
  // id; a count grows only by the rows that insert actually added (RETURNING), so a redelivery, late
  // or concurrent (the second insert waits on the first's row, then conflicts), counts nothing twice.
  idempotent: true,
  entities: [MessageCountEntity, CountedMessageEntity],
  async apply(tx, events) {
    const ids = new Map<string, Counted>();
    for (const e of eventsOfType(events, 'MessageSent')) {
      const d = e.event.data;
      const row = { user_id: text(d, 'senderId'), day: utcDay(time(d, 'sentAt')), message_id: text(d, 'messageId') };
      ids.set(row.message_id, row);
    }
    if (ids.size === 0) return;
    // Key order, as every projection writes: concurrent batches lock shared rows in the same order.
    const sorted = [...ids.values()].sort((a, b) => compare(a.user_id, b.user_id) || compare(a.day, b.day) || compare(a.message_id, b.message_id));
    const inserted = await tx.query<{ user_id: string; day: string }>(
      `INSERT INTO ${tx.table('counted_messages')} (${columnList(ID_COLUMNS)})
       ${tx.sql.rowsFrom(ID_COLUMNS)}
       ON CONFLICT DO NOTHING
       RETURNING user_id, day`,
      [tx.sql.encodeRows(ID_COLUMNS, sorted as unknown as Record<string, unknown>[])],
    );
    if (inserted.length === 0) return;
    const counts = new Map<string, { user_id: string; day: string; count: number }>();
    for (const r of inserted) {
      const k = dayKey(r.user_id, r.day);
      const c = counts.get(k);
      if (c) c.count++;
      else counts.set(k, { user_id: r.user_id, day: r.day, count: 1 });
    }
    const rows = [...counts.values()].sort((a, b) => compare(a.user_id, b.user_id) || compare(a.day, b.day));
    await tx.run(
      `INSERT INTO ${tx.table('message_counts')} AS cur (${columnList(COUNT_COLUMNS)})
       ${tx.sql.rowsFrom(COUNT_COLUMNS)}
       ON CONFLICT (user_id, day) DO UPDATE SET count = cur.count + excluded.count`,
      [tx.sql.encodeRows(COUNT_COLUMNS, rows)],
    );
  },
};

// ---------------------------------------------------------------------------------------------
// What the API reads: messages a user sent per UTC day, oldest day first. Days are 'YYYY-MM-DD'
// and both ends of the range are inclusive; a day without messages is left out.

export interface MessageCountQuery {
  userId: string;
  /** First day, inclusive ('YYYY-MM-DD'). */
  from?: string;
  /** Last day, inclusive ('YYYY-MM-DD'). */
  to?: string;
}

export interface MessageCountEntry {
  day: string;
  count: number;
}

/** At most this many days per answer: narrow the range for more. */
export const MAX_DAYS = 1000;

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A real calendar day spelled 'YYYY-MM-DD' (so 2026-02-30 is refused, not rolled over). */
export function isDay(value: string): boolean {
  if (!DAY.test(value)) return false;
  const d = new Date(`${value}T00:00:00Z`);
  // Year 0 parses, but is outside the range every time query shares (queries/page.ts).
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value && value >= '0001-01-01';
}

export async function messageCountsPerDay(db: ReadModelDb, q: MessageCountQuery): Promise<MessageCountEntry[]> {
  if (q.userId.length === 0) throw new InvalidQueryError('userId is required');
  for (const [name, v] of [['from', q.from], ['to', q.to]] as const) {
    if (v !== undefined && !isDay(v)) throw new InvalidQueryError(`${name} must be a day as YYYY-MM-DD`);
  }
  if (q.from !== undefined && q.to !== undefined && q.from > q.to) throw new InvalidQueryError('from must not be after to');
  const sql = db.sql;
  const where = ['user_id = ?'];
  const params: SqlParam[] = [q.userId];
  if (q.from !== undefined) {
    where.push('day >= ?');
    params.push(q.from);
  }
  if (q.to !== undefined) {
    where.push('day <= ?');
    params.push(q.to);
  }
  params.push(MAX_DAYS);
  const rows = await db.query<{ day: string; count: number | string }>(
    `SELECT day, count FROM ${sql.table('message_counts')} WHERE ${where.join(' AND ')} ORDER BY day LIMIT ?`,
    params,
  );
  return rows.map((r) => ({ day: r.day, count: Number(r.count) }));
}
