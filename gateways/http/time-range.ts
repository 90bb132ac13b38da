/** Query parameters shared by the log endpoints (activity, errors): a time range and the next page's cursor. */
import { Type, type TProperties } from 'typebox';
import { isQueryTime } from '../../projections/ports/page.js';
import { ApiError } from './errors.js';
import { PageQuery } from './schemas.js';

export const TimeRange = {
  from: Type.Optional(Type.String({ format: 'date-time', description: 'Inclusive, ISO-8601' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'Exclusive, ISO-8601; before `from` is 400 VALIDATION_FAILED' })),
};

export const NextCursor = Type.Union([Type.String(), Type.Null()]);

/**
 * A from/to parameter as a Date. The schema has checked the format; the range (years 1 to 9999, UTC)
 * is what both stores can compare against (PostgreSQL has no year 0, nor JavaScript's far dates).
 */
export const asDate = (iso: string | undefined, field: 'from' | 'to'): Date | undefined => {
  if (iso === undefined) return undefined;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new ApiError('VALIDATION_FAILED', undefined, [{ in: 'querystring', path: `/${field}`, message: 'not a date-time' }]);
  if (!isQueryTime(d.getTime())) {
    throw new ApiError('VALIDATION_FAILED', undefined, [{ in: 'querystring', path: `/${field}`, message: 'must lie in the years 1 to 9999 (UTC)' }]);
  }
  return d;
};

/** The from/to parameters as Dates, each only when given. */
export function timeRangeOf(q: { from?: string; to?: string }): { from?: Date; to?: Date } {
  const from = asDate(q.from, 'from');
  const to = asDate(q.to, 'to');
  // As the stats endpoint and `chat audit activity` do: a reversed range is a mistake, not an empty answer.
  if (from && to && from > to) throw new ApiError('VALIDATION_FAILED', undefined, [{ in: 'querystring', path: '/from', message: 'must not be after to' }]);
  return { ...(from ? { from } : {}), ...(to ? { to } : {}) };
}

/** Pages of a log: up to 200 lines, 50 unless asked. */
const LOG_PAGE = { max: 200, dflt: 50 };

/** The query of a log page: the endpoint's own filters, the time range, the page's size and cursor. */
export const LogPageQuery = <P extends TProperties>(filters: P) => PageQuery({ ...filters, ...TimeRange }, LOG_PAGE);

/** What a log page asks its read model for, from the query: the time range, the size and the cursor. */
export function logPageOf(q: { from?: string; to?: string; limit?: number; cursor?: string }): { from?: Date; to?: Date; limit: number; cursor?: string } {
  return { limit: q.limit ?? LOG_PAGE.dflt, ...timeRangeOf(q), ...(q.cursor ? { cursor: q.cursor } : {}) };
}
