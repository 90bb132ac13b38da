/** Users by username prefix, in username order, paged by username (for "start a chat with ..."). */
import type { FilterQuery } from '@mikro-orm/core';
import { UserEntity, type UserRow } from '../entities/users.js';
import { emOf, type ReadModelOrm } from '../orm.js';
import { clampLimit, decodeCursor, toPage, type Page } from './page.js';

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

export async function searchUsers(orm: ReadModelOrm, q: UserSearch = {}): Promise<Page<UserEntry>> {
  const limit = clampLimit(q.limit, 20);
  const prefix = (q.prefix ?? '').toLowerCase();
  // A range, not LIKE: '_' is a LIKE wildcard and legal in usernames; both databases compare these
  // columns byte-wise (PostgreSQL: COLLATE "C"), so the range is exact and index-friendly.
  const and: Array<FilterQuery<UserRow>> = [{ username: { $ne: null } }];
  if (prefix) {
    const upper = prefixUpperBound(prefix);
    and.push({ username: upper === null ? { $gte: prefix } : { $gte: prefix, $lt: upper } });
  }
  if (q.cursor) {
    const [after] = decodeCursor(q.cursor, ['string']) as [string];
    and.push({ username: { $gt: after } });
  }
  const rows = await emOf(orm).find(UserEntity, { $and: and }, { orderBy: { username: 'asc' }, limit: limit + 1 });
  return toPage(
    rows,
    limit,
    (r) => ({ userId: r.userId, username: r.username!, role: r.role ?? 'user', registeredAt: r.registeredAt, lastLoginAt: r.lastLoginAt }),
    (r) => [r.username!],
  );
}
