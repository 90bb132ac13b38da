/**
 * The dead-letter statements the runtime shares: writing dead letters, and reading where a
 * 'park-and-stop' projection stopped (its oldest parked event of an unknown type or version not yet
 * retried). The stop is kept nowhere else: it ends when that dead letter is retried.
 */
import type { PublicRecord } from '../ports/public-record.js';
import type { Columns, SqlDialect } from '../ports/sql.js';
import type { SqlProjection } from '../projection.js';
import { CHECKPOINTS, DEAD_LETTERS, pairKey } from './apply.js';
import { UNKNOWN_ERROR_CONDITION } from './event-reader.js';
import type { SqlRunner } from '../ports/read-model.js';

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
  em: SqlRunner,
  sql: SqlDialect,
  rows: ReadonlyArray<DeadLetterInsert>,
  onConflict: 'replace' | 'keep',
): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const now = new Date();
  const written = await em.query<{ projection: string; event_id: string }>(
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
  em: SqlRunner,
  sql: SqlDialect,
  projections: ReadonlyArray<SqlProjection>,
  except: ReadonlySet<string> = new Set(),
): Promise<Map<string, StoppedAt>> {
  return (await readFloorsAndStops(em, sql, [], projections, except)).stops;
}

const EVENT_ID: Columns = [['event_id', 'text']];

/**
 * readFloors (apply.ts) of `names` and readStops of `projections` in one statement: a live batch reads
 * both after taking its lock, and every statement is a round trip. With `parkedAmong`, also which of
 * those events are parked (not retried) for the idempotent projections of `projections`: having no
 * inbox rows, they skip a parked event's redelivery by its dead letter (as park() leaves it).
 */
export async function readFloorsAndStops(
  em: SqlRunner,
  sql: SqlDialect,
  names: ReadonlyArray<string>,
  projections: ReadonlyArray<SqlProjection>,
  except: ReadonlySet<string> = new Set(),
  parkedAmong: ReadonlyArray<string> = [],
): Promise<{ floors: Map<string, bigint>; stops: Map<string, StoppedAt>; parked: Set<string> }> {
  const idempotent = parkedAmong.length > 0 ? projections.filter((p) => p.idempotent).map((p) => p.name) : [];
  const stopping = projections.filter((p) => p.onUnknown === 'park-and-stop').map((p) => p.name);
  const list = (n: number): string => Array.from({ length: n }, () => '?').join(', ');
  const parts: string[] = [];
  if (names.length > 0) {
    parts.push(`SELECT 'floor' AS kind, projection, CAST(rebuilt_through AS TEXT) AS position, NULL AS event_id, NULL AS error
      FROM ${sql.table(CHECKPOINTS)} WHERE projection IN (${list(names.length)})`);
  }
  if (stopping.length > 0) {
    parts.push(`SELECT 'stop' AS kind, projection, CAST(position AS TEXT) AS position, event_id, error FROM ${sql.table(DEAD_LETTERS)}
      WHERE retried_at IS NULL AND ${UNKNOWN_ERROR_CONDITION} AND projection IN (${list(stopping.length)})
        ${except.size > 0 ? `AND event_id NOT IN (${list(except.size)})` : ''}`);
  }
  if (idempotent.length > 0) {
    parts.push(`SELECT 'parked' AS kind, projection, CAST(position AS TEXT) AS position, event_id, NULL AS error FROM ${sql.table(DEAD_LETTERS)}
      WHERE retried_at IS NULL AND projection IN (${list(idempotent.length)}) AND event_id IN (SELECT event_id FROM (${sql.rowsFrom(EVENT_ID)}) ids)`);
  }
  const floors = new Map<string, bigint>();
  const stops = new Map<string, StoppedAt>();
  const parked = new Set<string>();
  if (parts.length === 0) return { floors, stops, parked };
  const rows = await em.query<{ kind: string; projection: string; position: string; event_id: string | null; error: string | null }>(
    parts.join(' UNION ALL '),
    [
      ...names,
      ...(stopping.length > 0 ? [...stopping, ...except] : []),
      ...(idempotent.length > 0 ? [...idempotent, sql.encodeRows(EVENT_ID, parkedAmong.map((id) => ({ event_id: id })))] : []),
    ],
  );
  for (const r of rows) {
    const position = BigInt(r.position);
    if (r.kind === 'floor') {
      floors.set(r.projection, position);
      continue;
    }
    if (r.kind === 'parked') {
      parked.add(pairKey(r.projection, String(r.event_id).toLowerCase()));
      continue;
    }
    const prev = stops.get(r.projection);
    // A projection's stop is its oldest such letter.
    if (!prev || position < prev.position) stops.set(r.projection, { position, eventId: String(r.event_id), error: String(r.error) });
  }
  return { floors, stops, parked };
}
