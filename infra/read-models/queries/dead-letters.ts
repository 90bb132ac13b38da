/** Parked records, oldest first, for `chat projections dead-letters`. */
import { emOf, sqlOf, sqlQuery, type ReadModelOrm } from '../orm.js';
import { toDate, type SqlParam } from '../../../projections/ports/sql.js';

export interface DeadLetterEntry {
  id: string;
  projection: string;
  eventId: string;
  position: string;
  type: string | null;
  /** The record's schema version, as written. */
  version: number | null;
  /** Why it is parked: it failed to apply, or the release that met it could not read its type or version. */
  reason: 'failed' | 'unknown-type' | 'unknown-version';
  error: string;
  attempts: number;
  parkedAt: Date | null;
  retriedAt: Date | null;
}

/** The reason prefix projections/runtime/event-reader.ts writes for an event its release could not read. */
const UNKNOWN_REASON = /^(unknown-type|unknown-version):/;
const reasonOf = (error: string): DeadLetterEntry['reason'] => (UNKNOWN_REASON.exec(error)?.[1] as DeadLetterEntry['reason'] | undefined) ?? 'failed';

export async function listDeadLetters(
  orm: ReadModelOrm,
  q: { projection?: string; includeRetried?: boolean; limit?: number } = {},
): Promise<DeadLetterEntry[]> {
  const sql = sqlOf(orm);
  const where: string[] = [];
  const params: SqlParam[] = [];
  if (!q.includeRetried) where.push('retried_at IS NULL');
  if (q.projection) {
    where.push('projection = ?');
    params.push(q.projection);
  }
  params.push(Math.min(Math.max(q.limit ?? 100, 1), 10_000));
  const rows = await sqlQuery<{ id: string; projection: string; event_id: string; position: string; record: unknown; error: string; attempts: number; parked_at: unknown; retried_at: unknown }>(
    emOf(orm),
    `SELECT CAST(id AS TEXT) AS id, projection, event_id, CAST(position AS TEXT) AS position, record, error, attempts, parked_at, retried_at
     FROM ${sql.table('dead_letters')} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY position, id LIMIT ?`,
    params,
  );
  return rows.map((r) => {
    const record = (typeof r.record === 'string' ? JSON.parse(r.record) : r.record) as { type?: unknown; version?: unknown } | null;
    return {
      id: r.id, projection: r.projection, eventId: r.event_id, position: r.position,
      type: typeof record?.type === 'string' ? record.type : null,
      version: typeof record?.version === 'number' ? record.version : null,
      reason: reasonOf(r.error),
      error: r.error, attempts: Number(r.attempts), parkedAt: toDate(r.parked_at), retriedAt: toDate(r.retried_at),
    };
  });
}
