/**
 * activity_log: one row per user action, for auditors. Keyed by event id, so a replay or a
 * redelivery inserts nothing new; ordered for reading by (at, position), both taken from the event.
 * The mapping event -> action lives in activity-of.ts, shared with `chat audit activity`.
 */
import { EntitySchema } from '@mikro-orm/core';
import { ACTIVITY_ACTIONS, ACTIVITY_EVENT_TYPES, activityOf, type ActivityAction } from './activity-of.js';
import { byKey, columnList, columnsOf, type SqlProjection } from './projection.js';
import { InvalidQueryError, checkTimeRange, clampLimit, decodeCursor, toPage, type Page } from './ports/page.js';
import type { ReadModelDb } from './ports/read-model.js';
import { toDate, type SqlParam } from './ports/sql.js';

/** activity_log: one row per user action, for audit. `id` is a surrogate; event_id is the natural key. */
export interface ActivityRow {
  id: bigint;
  eventId: string;
  position: bigint;
  userId: string;
  action: ActivityAction;
  target: string | null;
  at: Date;
}

export const ActivityEntity = new EntitySchema<ActivityRow>({
  name: 'ActivityRow',
  tableName: 'activity_log',
  properties: {
    id: { type: 'bigint', primary: true, autoincrement: true },
    eventId: { type: 'uuid', unique: true, fieldName: 'event_id' },
    position: { type: 'bigint' },
    userId: { type: 'string', fieldName: 'user_id' },
    action: { type: 'string' },
    target: { type: 'string', nullable: true },
    at: { type: 'datetime' },
  },
});

const COLUMNS = columnsOf(ActivityEntity);

export const activityLogProjection: SqlProjection = {
  name: 'activity-log',
  version: 1,
  handles: ACTIVITY_EVENT_TYPES,
  // One row per event, keyed by event id: the retry inserts the missing row in its place (rows are read
  // in (at, position) order). Auditors' exports read the log itself, not this table.
  onUnknown: 'park-and-continue',
  entities: [ActivityEntity],
  async apply(tx, events) {
    const rows = events.map((e) => {
      const a = activityOf(e.event);
      return { event_id: e.id, position: e.position.toString(), user_id: a.user, action: a.action, target: a.target, at: a.at };
    });
    if (rows.length === 0) return;
    await tx.run(
      `INSERT INTO ${tx.table('activity_log')} (${columnList(COLUMNS)})
       ${tx.sql.rowsFrom(COLUMNS)}
       ON CONFLICT DO NOTHING`,
      [tx.sql.encodeRows(COLUMNS, byKey(rows, 'event_id'))],
    );
  },
};

// ---------------------------------------------------------------------------------------------
// What the API reads: the audit trail, newest first, filtered by user, action and time range, paged
// with a cursor on (at, position). Position is the event's place in the log, so the cursor stays
// valid across a rebuild of the table (whose surrogate ids change).

export interface ActivityQuery {
  userId?: string;
  action?: ActivityAction;
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
  limit?: number;
  cursor?: string;
}

export interface ActivityEntry {
  eventId: string;
  userId: string;
  action: ActivityAction;
  /** The chat acted on, if any. */
  target: string | null;
  at: Date;
  position: string;
}

export const isActivityAction = (s: string): s is ActivityAction => (ACTIVITY_ACTIONS as ReadonlyArray<string>).includes(s);

export async function queryActivity(db: ReadModelDb, q: ActivityQuery = {}): Promise<Page<ActivityEntry>> {
  const limit = clampLimit(q.limit);
  if (q.action !== undefined && !isActivityAction(q.action)) throw new InvalidQueryError(`unknown action "${String(q.action)}"`);
  const sql = db.sql;
  const where: string[] = [];
  const params: SqlParam[] = [];
  const and = (clause: string, ...values: SqlParam[]): void => {
    where.push(clause);
    params.push(...values);
  };
  if (q.userId !== undefined) and('user_id = ?', q.userId);
  if (q.action !== undefined) and('action = ?', q.action);
  checkTimeRange(q);
  if (q.from) and('at >= ?', sql.time(q.from));
  if (q.to) and('at < ?', sql.time(q.to));
  if (q.cursor) {
    const [ms, position] = decodeCursor(q.cursor, ['time', 'position']) as [number, string];
    const at = sql.time(new Date(ms));
    and(`(at < ? OR (at = ? AND position < ${sql.position()}))`, at, at, position);
  }
  params.push(limit + 1);
  const rows = await db.query<{ event_id: string; user_id: string; action: ActivityAction; target: string | null; at: unknown; position: string | number }>(
    `SELECT event_id, user_id, action, target, at, position FROM ${sql.table('activity_log')}
     ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY at DESC, position DESC LIMIT ?`,
    params,
  );
  return toPage(
    rows,
    limit,
    (r) => ({ eventId: r.event_id, userId: r.user_id, action: r.action, target: r.target, at: toDate(r.at)!, position: String(r.position) }),
    (r) => [toDate(r.at)!.getTime(), String(r.position)],
  );
}
