/** The error log of every process, newest first, by process, minimum level and time range, paged by (at, id). */
import type { FilterQuery } from '@mikro-orm/core';
import { ErrorLogEntity, type ErrorLogLine, type ErrorLogRow } from '../entities/error-log.js';
import { emOf, type ReadModelOrm } from '../orm.js';
import { checkTimeRange, clampLimit, decodeCursor, toPage, type Page } from '../../../projections/ports/page.js';

export interface ErrorQuery {
  process?: string;
  /** pino level number; entries at or above it (50 error, 60 fatal). */
  minLevel?: number;
  from?: Date;
  to?: Date;
  limit?: number;
  cursor?: string;
}

export interface ErrorEntry extends ErrorLogLine {
  id: string;
}

/** pino's level names. */
export const LOG_LEVELS: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

export async function queryErrors(orm: ReadModelOrm, q: ErrorQuery = {}): Promise<Page<ErrorEntry>> {
  const limit = clampLimit(q.limit);
  const and: Array<FilterQuery<ErrorLogRow>> = [];
  if (q.process !== undefined) and.push({ process: q.process });
  if (q.minLevel !== undefined) and.push({ level: { $gte: q.minLevel } });
  checkTimeRange(q);
  if (q.from) and.push({ at: { $gte: q.from } });
  if (q.to) and.push({ at: { $lt: q.to } });
  if (q.cursor) {
    const [ms, id] = decodeCursor(q.cursor, ['time', 'position']) as [number, string];
    const at = new Date(ms);
    and.push({ $or: [{ at: { $lt: at } }, { at, id: { $lt: BigInt(id) } }] });
  }
  const rows = await emOf(orm).find(ErrorLogEntity, { $and: and }, { orderBy: [{ at: 'desc' }, { id: 'desc' }], limit: limit + 1 });
  return toPage(
    rows,
    limit,
    (r) => ({
      id: String(r.id), at: r.at, level: r.level, process: r.process,
      context: typeof r.context === 'string' ? (JSON.parse(r.context) as Record<string, unknown>) : r.context,
      message: r.message, stack: r.stack,
    }),
    (r) => [r.at.getTime(), String(r.id)],
  );
}
