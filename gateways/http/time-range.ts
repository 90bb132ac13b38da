/** Query parameters shared by the log endpoints (activity, errors): a time range and the next page's cursor. */
import { Type } from 'typebox';
import { isQueryTime } from '../../projections/ports/page.js';
import { ApiError } from './errors.js';

export const TimeRange = {
  from: Type.Optional(Type.String({ format: 'date-time', description: 'Inclusive, ISO-8601' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'Exclusive, ISO-8601' })),
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
