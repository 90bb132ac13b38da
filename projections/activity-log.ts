/**
 * activity_log: one row per user action, for auditors. Keyed by event id, so a replay or a
 * redelivery inserts nothing new; ordered for reading by (at, position), both taken from the event.
 * The mapping event -> action lives in activity-of.ts, shared with `chat audit activity`.
 */
import { ActivityEntity } from '../infra/read-models/entities/activity-log.js';
import type { Columns } from '../infra/read-models/sql.js';
import { ACTIVITY_EVENT_TYPES, activityOf } from './activity-of.js';
import { byKey, type SqlProjection } from './projection.js';

const COLUMNS: Columns = [
  ['event_id', 'uuid'],
  ['position', 'bigint'],
  ['user_id', 'text'],
  ['action', 'text'],
  ['target', 'text'],
  ['at', 'timestamp'],
];

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
      `INSERT INTO ${tx.table('activity_log')} (${COLUMNS.map(([c]) => c).join(', ')})
       ${tx.sql.rowsFrom(COLUMNS)}
       ON CONFLICT DO NOTHING`,
      [tx.sql.encodeRows(COLUMNS, byKey(rows, 'event_id'))],
    );
  },
};
