/**
 * The dead-letter statements the runtime shares: writing dead letters, and reading where a
 * 'park-and-stop' projection stopped (its oldest parked event of an unknown type or version not yet
 * retried). The stop is kept nowhere else: it ends when that dead letter is retried.
 */
import type { SqlEntityManager } from '@mikro-orm/knex';
import type { PublicRecord } from '../../infra/event-store/public-record.js';
import { sqlQuery } from '../../infra/read-models/orm.js';
import type { Columns, SqlDialect } from '../../infra/read-models/sql.js';
import type { SqlProjection } from '../projection.js';
import { DEAD_LETTERS, pairKey } from './apply.js';
import { UNKNOWN_ERROR_CONDITION } from './event-reader.js';

const DEAD_LETTER_COLUMNS: Columns = [
  ['projection', 'text'],
  ['event_id', 'text'],
  ['position', 'bigint'],
  ['record', 'json'],
  ['error', 'text'],
  ['stack', 'text'],
  ['attempts', 'int'],
  ['parked_at', 'timestamp'],
];

export interface DeadLetterInsert {
  projection: string;
  eventId: string;
  position: bigint;
  record: PublicRecord;
  error: string;
  stack: string | null;
  attempts: number;
}

/**
 * Returns the (projection, event id) pairs written (as pairKey).
 * 'replace': a failure parked again (after more attempts) overwrites the letter and makes it pending.
 * 'keep': an event parked as unknown again (a redelivery to a release that still cannot read it) leaves
 * the letter as it is, retried or not.
 */
export async function insertDeadLetters(
  em: SqlEntityManager,
  sql: SqlDialect,
  rows: ReadonlyArray<DeadLetterInsert>,
  onConflict: 'replace' | 'keep',
): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const now = new Date();
  const written = await sqlQuery<{ projection: string; event_id: string }>(
    em,
    `INSERT INTO ${sql.table(DEAD_LETTERS)} (${DEAD_LETTER_COLUMNS.map(([c]) => c).join(', ')})
     ${sql.rowsFrom(DEAD_LETTER_COLUMNS)}
     ${onConflict === 'keep'
       ? 'ON CONFLICT (projection, event_id) DO NOTHING'
       : `ON CONFLICT (projection, event_id) DO UPDATE SET position = excluded.position, record = excluded.record,
           error = excluded.error, stack = excluded.stack, attempts = excluded.attempts, parked_at = excluded.parked_at, retried_at = NULL`}
     RETURNING projection, event_id`,
    [
      sql.encodeRows(
        DEAD_LETTER_COLUMNS,
        rows.map((r) => ({
          projection: r.projection, event_id: r.eventId, position: r.position.toString(), record: r.record,
          error: r.error, stack: r.stack, attempts: r.attempts, parked_at: now,
        })),
      ),
    ],
  );
  return new Set(written.map((r) => pairKey(r.projection, r.event_id)));
}

export interface StoppedAt {
  position: bigint;
  eventId: string;
  error: string;
}

/**
 * Where each of these 'park-and-stop' projections is stopped (absent: not stopped). `except`: event ids
 * whose letters are being resolved (a resume applies them and catches up before marking them retried).
 */
export async function readStops(
  em: SqlEntityManager,
  sql: SqlDialect,
  projections: ReadonlyArray<SqlProjection>,
  except: ReadonlySet<string> = new Set(),
): Promise<Map<string, StoppedAt>> {
  const names = projections.filter((p) => p.onUnknown === 'park-and-stop').map((p) => p.name);
  if (names.length === 0) return new Map();
  const rows = await sqlQuery<{ projection: string; position: string; event_id: string; error: string }>(
    em,
    `SELECT projection, CAST(position AS TEXT) AS position, event_id, error FROM ${sql.table(DEAD_LETTERS)}
     WHERE retried_at IS NULL AND ${UNKNOWN_ERROR_CONDITION} AND projection IN (${names.map(() => '?').join(', ')})
       ${except.size > 0 ? `AND event_id NOT IN (${[...except].map(() => '?').join(', ')})` : ''}
     ORDER BY position DESC`,
    [...names, ...except],
  );
  // Descending, so the last row seen of each projection is its oldest.
  const stops = new Map<string, StoppedAt>();
  for (const r of rows) stops.set(r.projection, { position: BigInt(r.position), eventId: r.event_id, error: r.error });
  return stops;
}
