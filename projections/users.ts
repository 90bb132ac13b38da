/**
 * users: one row per user (id, name, role, registration, last login and erasure), and searchUsers, what the
 * API reads from it. UserRegistered reaches this projection without its password hash (public
 * records are redacted at the source) and the table has no column for one. A login delivered before
 * the registration creates a partial row that the registration completes; last_login_at only moves
 * forward. Columns other than the id are nullable for that partial row. An erased account keeps its
 * row (the name stays reserved) with erased_at set, and the search leaves it out.
 */
import { EntitySchema } from '@mikro-orm/core';
import { text, time } from './fields.js';
import { byKey, columnList, columnsOf, eventsOfType, type ProjectionTx, type SqlProjection } from './projection.js';
import { clampLimit, decodeCursor, toPage, type Page } from './ports/page.js';
import type { ReadModelDb } from './ports/read-model.js';
import { toDate, type SqlParam } from './ports/sql.js';

export interface UserRow {
  userId: string;
  username: string | null;
  role: string | null;
  registeredAt: Date | null;
  lastLoginAt: Date | null;
  erasedAt: Date | null;
}

export const UserEntity = new EntitySchema<UserRow>({
  name: 'UserRow',
  tableName: 'users',
  properties: {
    userId: { type: 'string', primary: true, fieldName: 'user_id' },
    username: { type: 'string', nullable: true },
    role: { type: 'string', nullable: true },
    registeredAt: { type: 'datetime', nullable: true, fieldName: 'registered_at' },
    lastLoginAt: { type: 'datetime', nullable: true, fieldName: 'last_login_at' },
    erasedAt: { type: 'datetime', nullable: true, fieldName: 'erased_at' },
  },
});

interface UserUpsert {
  user_id: string;
  username: string | null;
  role: string | null;
  registered_at: string | null;
  last_login_at: string | null;
  erased_at: string | null;
}

const COLUMNS = columnsOf(UserEntity);

const later = (a: string | null, b: string | null): string | null => (a === null ? b : b === null ? a : a > b ? a : b);

export const usersProjection: SqlProjection = {
  name: 'users',
  // 2: erased accounts are marked (UserErased), and left out of the search.
  version: 2,
  handles: ['UserRegistered', 'UserLoggedIn', 'UserErased'],
  // A login applied before its registration already makes a partial row the registration completes:
  // a registration retried after an upgrade lands the same way.
  onUnknown: 'park-and-continue',
  entities: [UserEntity],
  async apply(tx: ProjectionTx, events) {
    // One row per user per batch: PostgreSQL refuses an upsert that touches a row twice.
    const rows = new Map<string, UserUpsert>();
    const row = (userId: string): UserUpsert => {
      let r = rows.get(userId);
      if (!r) rows.set(userId, (r = { user_id: userId, username: null, role: null, registered_at: null, last_login_at: null, erased_at: null }));
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
    for (const e of eventsOfType(events, 'UserErased')) {
      const r = row(text(e.event.data, 'userId'));
      r.erased_at = time(e.event.data, 'at');
    }
    if (rows.size === 0) return;
    await tx.run(
      `INSERT INTO ${tx.table('users')} AS cur (${columnList(COLUMNS)})
       ${tx.sql.rowsFrom(COLUMNS)}
       ON CONFLICT (user_id) DO UPDATE SET
         username = COALESCE(excluded.username, cur.username),
         role = COALESCE(excluded.role, cur.role),
         registered_at = COALESCE(excluded.registered_at, cur.registered_at),
         erased_at = COALESCE(cur.erased_at, excluded.erased_at),
         last_login_at = CASE WHEN cur.last_login_at IS NULL OR excluded.last_login_at > cur.last_login_at
                              THEN COALESCE(excluded.last_login_at, cur.last_login_at) ELSE cur.last_login_at END`,
      [tx.sql.encodeRows(COLUMNS, byKey([...rows.values()], 'user_id') as unknown as Record<string, unknown>[])],
    );
  },
};

// ---------------------------------------------------------------------------------------------
// The query the API reads.

export interface UserSearch {
  /** Case-insensitive (usernames are stored lower-case). */
  prefix?: string;
  limit?: number;
  cursor?: string;
}

export interface UserEntry {
  userId: string;
  username: string;
  role: string;
  registeredAt: Date | null;
  lastLoginAt: Date | null;
}

/** The smallest string above every string starting with `prefix`, in code point (= UTF-8 byte) order. */
export function prefixUpperBound(prefix: string): string | null {
  const chars = [...prefix];
  while (chars.length > 0) {
    const cp = chars.pop()!.codePointAt(0)!;
    if (cp < 0x10ffff) return chars.join('') + String.fromCodePoint(cp + 1 === 0xd800 ? 0xe000 : cp + 1);
  }
  return null;
}

export async function searchUsers(db: ReadModelDb, q: UserSearch = {}): Promise<Page<UserEntry>> {
  const limit = clampLimit(q.limit, 20);
  const prefix = (q.prefix ?? '').toLowerCase();
  // A range, not LIKE: '_' is a LIKE wildcard and legal in usernames; both databases compare these
  // columns byte-wise (PostgreSQL: COLLATE "C"), so the range is exact and index-friendly.
  const where = ['username IS NOT NULL', 'erased_at IS NULL'];
  const params: SqlParam[] = [];
  if (prefix) {
    const upper = prefixUpperBound(prefix);
    where.push(upper === null ? 'username >= ?' : 'username >= ? AND username < ?');
    params.push(prefix, ...(upper === null ? [] : [upper]));
  }
  if (q.cursor) {
    const [after] = decodeCursor(q.cursor, ['string']) as [string];
    where.push('username > ?');
    params.push(after);
  }
  params.push(limit + 1);
  const rows = await db.query<{ user_id: string; username: string; role: string | null; registered_at: unknown; last_login_at: unknown }>(
    `SELECT user_id, username, role, registered_at, last_login_at FROM ${db.sql.table('users')}
     WHERE ${where.join(' AND ')} ORDER BY username ASC LIMIT ?`,
    params,
  );
  return toPage(
    rows,
    limit,
    (r) => ({ userId: r.user_id, username: r.username, role: r.role ?? 'user', registeredAt: toDate(r.registered_at), lastLoginAt: toDate(r.last_login_at) }),
    (r) => [r.username],
  );
}
