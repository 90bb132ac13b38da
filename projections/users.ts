/**
 * users: one row per user (id, name, role, registration and last login). UserRegistered reaches this
 * projection without its password hash (public records are redacted at the source) and the table has
 * no column for one. A login delivered before the registration creates a partial row that the
 * registration completes; last_login_at only moves forward.
 */
import { UserEntity } from '../infra/read-models/entities/users.js';
import { byKey, eventsOfType, type ProjectionTx, type SqlProjection } from './projection.js';
import { text, time } from './fields.js';
import type { Columns } from '../infra/read-models/sql.js';

interface UserUpsert {
  user_id: string;
  username: string | null;
  role: string | null;
  registered_at: string | null;
  last_login_at: string | null;
}

const COLUMNS: Columns = [
  ['user_id', 'text'],
  ['username', 'text'],
  ['role', 'text'],
  ['registered_at', 'timestamp'],
  ['last_login_at', 'timestamp'],
];

const later = (a: string | null, b: string | null): string | null => (a === null ? b : b === null ? a : a > b ? a : b);

export const usersProjection: SqlProjection = {
  name: 'users',
  version: 1,
  handles: ['UserRegistered', 'UserLoggedIn'],
  // A login applied before its registration already makes a partial row the registration completes:
  // a registration retried after an upgrade lands the same way.
  onUnknown: 'park-and-continue',
  entities: [UserEntity],
  async apply(tx: ProjectionTx, events) {
    // One row per user per batch: PostgreSQL refuses an upsert that touches a row twice.
    const rows = new Map<string, UserUpsert>();
    const row = (userId: string): UserUpsert => {
      let r = rows.get(userId);
      if (!r) rows.set(userId, (r = { user_id: userId, username: null, role: null, registered_at: null, last_login_at: null }));
      return r;
    };
    for (const e of eventsOfType(events, 'UserRegistered')) {
      const r = row(text(e.event.data, 'userId'));
      r.username = text(e.event.data, 'username');
      r.role = text(e.event.data, 'role');
      r.registered_at = time(e.event.data, 'registeredAt');
    }
    for (const e of eventsOfType(events, 'UserLoggedIn')) {
      const r = row(text(e.event.data, 'userId'));
      r.last_login_at = later(r.last_login_at, time(e.event.data, 'at'));
    }
    if (rows.size === 0) return;
    await tx.run(
      `INSERT INTO ${tx.table('users')} AS cur (user_id, username, role, registered_at, last_login_at)
       ${tx.sql.rowsFrom(COLUMNS)}
       ON CONFLICT (user_id) DO UPDATE SET
         username = COALESCE(excluded.username, cur.username),
         role = COALESCE(excluded.role, cur.role),
         registered_at = COALESCE(excluded.registered_at, cur.registered_at),
         last_login_at = CASE WHEN cur.last_login_at IS NULL OR excluded.last_login_at > cur.last_login_at
                              THEN COALESCE(excluded.last_login_at, cur.last_login_at) ELSE cur.last_login_at END`,
      [tx.sql.encodeRows(COLUMNS, byKey([...rows.values()], 'user_id') as unknown as Record<string, unknown>[])],
    );
  },
};
