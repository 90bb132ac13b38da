/**
 * Messages a user sent per UTC day, oldest day first, from message_counts. Days are 'YYYY-MM-DD'
 * and both ends of the range are inclusive; a day without messages is left out.
 */
import { emOf, sqlOf, sqlQuery, type ReadModelOrm } from '../orm.js';
import type { SqlParam } from '../sql.js';
import { InvalidQueryError } from './page.js';

export interface MessageCountQuery {
  userId: string;
  /** First day, inclusive ('YYYY-MM-DD'). */
  from?: string;
  /** Last day, inclusive ('YYYY-MM-DD'). */
  to?: string;
}

export interface MessageCountEntry {
  day: string;
  count: number;
}

/** At most this many days per answer: narrow the range for more. */
export const MAX_DAYS = 1000;

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A real calendar day spelled 'YYYY-MM-DD' (so 2026-02-30 is refused, not rolled over). */
export function isDay(value: string): boolean {
  if (!DAY.test(value)) return false;
  const d = new Date(`${value}T00:00:00Z`);
  // Year 0 parses, but is outside the range every time query shares (queries/page.ts).
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value && value >= '0001-01-01';
}

export async function messageCountsPerDay(orm: ReadModelOrm, q: MessageCountQuery): Promise<MessageCountEntry[]> {
  if (q.userId.length === 0) throw new InvalidQueryError('userId is required');
  for (const [name, v] of [['from', q.from], ['to', q.to]] as const) {
    if (v !== undefined && !isDay(v)) throw new InvalidQueryError(`${name} must be a day as YYYY-MM-DD`);
  }
  if (q.from !== undefined && q.to !== undefined && q.from > q.to) throw new InvalidQueryError('from must not be after to');
  const sql = sqlOf(orm);
  const where = ['user_id = ?'];
  const params: SqlParam[] = [q.userId];
  if (q.from !== undefined) {
    where.push('day >= ?');
    params.push(q.from);
  }
  if (q.to !== undefined) {
    where.push('day <= ?');
    params.push(q.to);
  }
  params.push(MAX_DAYS);
  const rows = await sqlQuery<{ day: string; count: number | string }>(
    emOf(orm),
    `SELECT day, count FROM ${sql.table('message_counts')} WHERE ${where.join(' AND ')} ORDER BY day LIMIT ?`,
    params,
  );
  return rows.map((r) => ({ day: r.day, count: Number(r.count) }));
}
