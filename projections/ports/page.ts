/** Paging shared by the read-model queries: a page of items and an opaque cursor for the next one. */
import { isStorableText } from '../../domain/text.js';

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next (older) page; null when there is none. */
  nextCursor: string | null;
}

export class InvalidQueryError extends Error {
  /** The query parameter at fault (`cursor`, `from` …), when there is one. */
  constructor(message: string, readonly field?: string) {
    super(message);
    this.name = 'InvalidQueryError';
  }
}

/**
 * The times a query or cursor may name: years 1 to 9999, UTC. PostgreSQL has no year 0 and a
 * JavaScript date reaches past timestamptz, so a wider range would fail on one store and not the other.
 */
export const EARLIEST_QUERY_TIME_MS = Date.parse('0001-01-01T00:00:00.000Z');
export const LATEST_QUERY_TIME_MS = Date.parse('9999-12-31T23:59:59.999Z');
export const isQueryTime = (ms: number): boolean => Number.isInteger(ms) && ms >= EARLIEST_QUERY_TIME_MS && ms <= LATEST_QUERY_TIME_MS;

/** A query's time range, refused unless both ends lie within the range above. */
export function checkTimeRange(q: { from?: Date | undefined; to?: Date | undefined }): void {
  for (const [field, d] of [['from', q.from], ['to', q.to]] as const) {
    if (d !== undefined && !isQueryTime(d.getTime())) throw new InvalidQueryError(`${field} must lie in the years 1 to 9999 (UTC)`, field);
  }
}

/** Log positions and surrogate ids are PostgreSQL bigints (SQLite INTEGER): at most 2^63 - 1. */
const MAX_BIGINT = 2n ** 63n - 1n;
const isBigintText = (v: string): boolean => /^[0-9]{1,19}$/.test(v) && BigInt(v) <= MAX_BIGINT;


export const MAX_LIMIT = 1000;

export function clampLimit(limit: number | undefined, fallback = 50): number {
  const n = limit ?? fallback;
  if (!Number.isInteger(n) || n < 1) throw new InvalidQueryError('limit must be a positive whole number');
  return Math.min(n, MAX_LIMIT);
}

/** Cursors are the sort key of the last item, base64url-encoded JSON: stable while rows are added. */
export function encodeCursor(key: unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/**
 * A cursor's key, each part checked against its kind: `time` epoch milliseconds within the query
 * range, `position` a decimal bigint, `string` text a store can hold. Cursors are opaque but come
 * back from clients, so anything else is refused here (400) rather than by the database (500).
 */
export type CursorPart = 'time' | 'position' | 'string';

export function decodeCursor(cursor: string, shape: ReadonlyArray<CursorPart>): Array<number | string> {
  const invalid = (why: string): InvalidQueryError => new InvalidQueryError(`invalid cursor: ${why}`, 'cursor');
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid('not one this API issued');
  }
  if (!Array.isArray(key) || key.length !== shape.length) throw invalid('not one this API issued');
  shape.forEach((kind, i) => {
    const v: unknown = key[i];
    if (kind === 'time' && !(typeof v === 'number' && isQueryTime(v))) throw invalid('time out of range');
    if (kind === 'position' && !(typeof v === 'string' && isBigintText(v))) throw invalid('position out of range');
    if (kind === 'string' && !(typeof v === 'string' && isStorableText(v))) throw invalid('not one this API issued');
  });
  return key as Array<number | string>;
}

/** Splits a limit+1 fetch into a page. */
export function toPage<R, T>(rows: R[], limit: number, map: (r: R) => T, keyOf: (r: R) => unknown[]): Page<T> {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  return { items: items.map(map), nextCursor: more && items.length > 0 ? encodeCursor(keyOf(items[items.length - 1]!)) : null };
}
