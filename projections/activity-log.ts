/**
 * activity_log: one row per user action, for auditors. Keyed by event id, so a replay or a
 * redelivery inserts nothing new; ordered for reading by (at, position), both taken from the event.
 */
import { ActivityEntity, type ActivityAction } from '../infra/read-models/entities/activity-log.js';
import type { Columns } from '../infra/read-models/sql.js';
import { text, time } from './fields.js';
import { byKey, type ProjectionEvent, type SqlProjection } from './projection.js';

const COLUMNS: Columns = [
  ['event_id', 'uuid'],
  ['position', 'bigint'],
  ['user_id', 'text'],
  ['action', 'text'],
  ['target', 'text'],
  ['at', 'timestamp'],
];

interface Activity {
  user: string;
  action: ActivityAction;
  target: string | null;
  at: string;
}

/** Who did what, to which chat, when: the one place that maps event types to audit actions. */
export function activityOf(e: ProjectionEvent): Activity {
  const ev = e.event;
  const d = ev.data;
  switch (ev.type) {
    case 'UserRegistered':
      return { user: text(d, 'userId'), action: 'register', target: null, at: time(d, 'registeredAt') };
    case 'UserLoggedIn':
      return { user: text(d, 'userId'), action: 'login', target: null, at: time(d, 'at') };
    case 'UserLoggedOut':
      return { user: text(d, 'userId'), action: 'logout', target: null, at: time(d, 'at') };
    case 'ChatOpened':
      return { user: text(d, 'userId'), action: 'open_chat', target: text(d, 'chatId'), at: time(d, 'at') };
    case 'ChatStarted':
      return { user: text(d, 'startedBy'), action: 'start_chat', target: text(d, 'chatId'), at: time(d, 'at') };
    case 'MessageSent':
      return { user: text(d, 'senderId'), action: 'send_message', target: text(d, 'chatId'), at: time(d, 'sentAt') };
  }
}

export const activityLogProjection: SqlProjection = {
  name: 'activity-log',
  version: 1,
  handles: ['UserRegistered', 'UserLoggedIn', 'UserLoggedOut', 'ChatOpened', 'ChatStarted', 'MessageSent'],
  entities: [ActivityEntity],
  async apply(tx, events) {
    const rows = events.map((e) => {
      const a = activityOf(e);
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
