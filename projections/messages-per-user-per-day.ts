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
import { CountedMessageEntity, MessageCountEntity } from '../infra/read-models/entities/message-counts.js';
import { sqlQuery } from '../infra/read-models/orm.js';
import type { Columns } from '../infra/read-models/sql.js';
import { text, time } from './fields.js';
import { eventsOfType, type SqlProjection } from './projection.js';

const ID_COLUMNS: Columns = [
  ['user_id', 'text'],
  ['day', 'text'],
  ['message_id', 'text'],
];

const COUNT_COLUMNS: Columns = [
  ['user_id', 'text'],
  ['day', 'text'],
  ['count', 'int'],
];

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
    const inserted = await sqlQuery<{ user_id: string; day: string }>(
      tx.em,
      `INSERT INTO ${tx.table('counted_messages')} (user_id, day, message_id)
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
      `INSERT INTO ${tx.table('message_counts')} AS cur (user_id, day, count)
       ${tx.sql.rowsFrom(COUNT_COLUMNS)}
       ON CONFLICT (user_id, day) DO UPDATE SET count = cur.count + excluded.count`,
      [tx.sql.encodeRows(COUNT_COLUMNS, rows)],
    );
  },
};
