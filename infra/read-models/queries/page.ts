/** Paging shared by the read-model queries: a page of items and an opaque cursor for the next one. */
export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next (older) page; null when there is none. */
  nextCursor: string | null;
}

export class InvalidQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidQueryError';
  }
}

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

export function decodeCursor(cursor: string, shape: ReadonlyArray<'number' | 'string'>): Array<number | string> {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidQueryError('invalid cursor');
  }
  if (!Array.isArray(key) || key.length !== shape.length || key.some((v, i) => typeof v !== shape[i])) throw new InvalidQueryError('invalid cursor');
  return key as Array<number | string>;
}

/** Splits a limit+1 fetch into a page. */
export function toPage<R, T>(rows: R[], limit: number, map: (r: R) => T, keyOf: (r: R) => unknown[]): Page<T> {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  return { items: items.map(map), nextCursor: more && items.length > 0 ? encodeCursor(keyOf(items[items.length - 1]!)) : null };
}
