/**
 * The pieces live application and rebuilds share: turning public records into projection events,
 * claiming them in an inbox and applying them, advancing checkpoints, and the advisory lock that
 * pauses live application of one projection while a rebuild swaps its tables.
 */
import type { PublicRecord } from '../ports/public-record.js';
import { toDate, type SqlDialect } from '../ports/sql.js';
import type { ProjectionEvent, ProjectionTx, SqlProjection } from '../projection.js';
import { CURRENT_READER, readRecord, type EventReader, type UnknownEvent } from './event-reader.js';
import type { SqlRunner } from '../ports/read-model.js';

export const INBOX = 'projection_inbox';
export const CHECKPOINTS = 'projection_checkpoints';
export const DEAD_LETTERS = 'dead_letters';
/** The dead-letter "projection" of a record no projection can read (unknown type, invalid body). */
export const NO_PROJECTION = '*';

export interface Item {
  record: PublicRecord;
  /** Null when this release cannot read the record (then `unknown` says why). */
  event: ProjectionEvent | null;
  unknown: UnknownEvent | null;
}

/** Event ids compared as PostgreSQL's uuid type prints them. */
export const normalizeId = (id: string): string => id.toLowerCase();

export function toItem(record: PublicRecord, reader: EventReader = CURRENT_READER): Item {
  const read = readRecord(record, reader);
  return {
    record,
    unknown: read.unknown,
    event: read.event && {
      id: normalizeId(record.id),
      streamId: record.streamId,
      revision: record.revision,
      position: BigInt(record.position),
      createdAt: new Date(record.createdAt),
      event: read.event,
    },
  };
}

/** De-duplicated by event id (a broker batch can hold one message twice) and in position order. */
export function toItems(records: ReadonlyArray<PublicRecord>, reader: EventReader = CURRENT_READER): Item[] {
  const seen = new Set<string>();
  const items: Item[] = [];
  for (const r of records) {
    const id = normalizeId(r.id);
    if (seen.has(id)) continue;
    seen.add(id);
    items.push(toItem(r, reader));
  }
  return items.sort((a, b) => {
    const pa = BigInt(a.record.position);
    const pb = BigInt(b.record.position);
    return pa < pb ? -1 : pa > pb ? 1 : 0;
  });
}

export const handles = (p: SqlProjection, item: Item): boolean =>
  item.event !== null && (p.handles as ReadonlyArray<string>).includes(item.event.event.type);

/** The record's type is one the projection handles, whether or not this release reads its version. */
export const wants = (p: SqlProjection, item: Item): boolean => (p.handles as ReadonlyArray<string>).includes(item.record.type);

/** A failure inside a projection's apply (as opposed to one of the runtime's own statements). */
export class ProjectionApplyError extends Error {
  constructor(
    readonly projection: string,
    override readonly cause: unknown,
  ) {
    super(`projection ${projection}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'ProjectionApplyError';
  }
}

/** The unwrapped error a caller should see and store. */
export const rootError = (err: unknown): unknown => (err instanceof ProjectionApplyError ? err.cause : err);

/** The physical names apply writes to: live tables, or a rebuild's fresh copies. */
export interface Target {
  table(name: string): string;
}

export function liveTarget(sql: SqlDialect): Target {
  return { table: (name) => sql.table(name) };
}

export function projectionTx(em: SqlRunner, sql: SqlDialect, projection: SqlProjection, target: Target): ProjectionTx {
  const owned = new Set(projection.entities.map(tableOf));
  return {
    sql,
    table(name) {
      if (!owned.has(name)) throw new Error(`projection ${projection.name} does not own table ${name}`);
      return target.table(name);
    },
    async run(statement, params = []) {
      await em.query(statement, params);
    },
    query: (statement, params = []) => em.query(statement, params),
  };
}

export function tableOf(entity: SqlProjection['entities'][number]): string {
  const name = entity.meta.tableName ?? entity.meta.collection;
  if (!name) throw new Error(`entity ${entity.meta.className} has no table name`);
  return name;
}

export const tablesOf = (p: SqlProjection): string[] => p.entities.map(tableOf);

/** Applies events to one projection; a failure is wrapped so callers can tell it from their own statements'. */
export async function applyEvents(
  em: SqlRunner,
  sql: SqlDialect,
  projection: SqlProjection,
  target: Target,
  events: ReadonlyArray<ProjectionEvent>,
): Promise<void> {
  if (events.length === 0) return;
  try {
    await projection.apply(projectionTx(em, sql, projection, target), events);
  } catch (err) {
    throw new ProjectionApplyError(projection.name, err);
  }
}

const INBOX_COLUMNS = [
  ['projection', 'text'],
  ['event_id', 'uuid'],
] as const;

export interface InboxPair {
  projection: string;
  eventId: string;
}

export const pairKey = (projection: string, eventId: string): string => `${projection}\u0000${eventId}`;

/**
 * Claims (projection, event) pairs in the inbox, all in one statement, and returns the pairs this
 * transaction claimed (as pairKey). INSERT ... ON CONFLICT DO NOTHING RETURNING: a pair already there
 * is not returned, and when two consumers hold the same event at once the second waits on the first's
 * uncommitted row and then does not get it, so an event is never applied twice. Rows go in key order
 * (as every projection writes its rows): two transactions holding overlapping events lock them in the
 * same order and cannot deadlock.
 */
export async function claim(em: SqlRunner, sql: SqlDialect, pairs: ReadonlyArray<InboxPair>): Promise<Set<string>> {
  if (pairs.length === 0) return new Set();
  const rows = pairs
    .map((p) => ({ projection: p.projection, event_id: p.eventId }))
    .sort((a, b) => (a.projection < b.projection ? -1 : a.projection > b.projection ? 1 : a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0));
  const claimed = await em.query<{ projection: string; event_id: string }>(
    `INSERT INTO ${sql.table(INBOX)} (projection, event_id) ${sql.rowsFrom(INBOX_COLUMNS)} ON CONFLICT DO NOTHING RETURNING projection, event_id`,
    [sql.encodeRows(INBOX_COLUMNS, rows)],
  );
  return new Set(claimed.map((r) => pairKey(r.projection, normalizeId(r.event_id))));
}

/**
 * Each projection's floor: every event at or below it was applied, as a rebuild (which read the whole
 * log up to there) or the inbox compaction (which checked the inbox for every one) found, so such an
 * event is a duplicate without asking the inbox.
 */
export async function readFloors(em: SqlRunner, sql: SqlDialect, names: ReadonlyArray<string>): Promise<Map<string, bigint>> {
  if (names.length === 0) return new Map();
  const rows = await em.query<{ projection: string; floor: string }>(
    `SELECT projection, CAST(rebuilt_through AS TEXT) AS floor FROM ${sql.table(CHECKPOINTS)} WHERE projection IN (${names.map(() => '?').join(', ')})`,
    [...names],
  );
  return new Map(rows.map((r) => [r.projection, BigInt(r.floor)]));
}

/**
 * Moves checkpoints forward to `position`, compare-and-set style: a row already at or past it (another
 * consumer, a rebuild that swapped in) is left alone, so a checkpoint never goes back.
 */
export async function advanceCheckpoints(em: SqlRunner, sql: SqlDialect, names: ReadonlyArray<string>, position: bigint): Promise<void> {
  if (names.length === 0 || position <= 0n) return;
  await em.query(
    `UPDATE ${sql.table(CHECKPOINTS)} SET position = ${sql.position()}, updated_at = ?
     WHERE projection IN (${names.map(() => '?').join(', ')}) AND position < ${sql.position()}`,
    [position.toString(), sql.time(new Date()), ...names, position.toString()],
  );
}

/** Creates missing checkpoint rows at position 0 with the code's version. */
export async function ensureCheckpoints(em: SqlRunner, sql: SqlDialect, projections: ReadonlyArray<SqlProjection>): Promise<void> {
  const cols = [
    ['projection', 'text'],
    ['position', 'bigint'],
    ['version', 'int'],
    ['updated_at', 'timestamp'],
  ] as const;
  const now = new Date();
  await em.query(
    `INSERT INTO ${sql.table(CHECKPOINTS)} (projection, position, version, updated_at) ${sql.rowsFrom(cols)} ON CONFLICT DO NOTHING`,
    [sql.encodeRows(cols, projections.map((p) => ({ projection: p.name, position: '0', version: p.version, updated_at: now })))],
  );
}

export interface CheckpointInfo {
  projection: string;
  position: bigint;
  version: number;
  updatedAt: Date | null;
}

export async function readCheckpoints(em: SqlRunner, sql: SqlDialect): Promise<Map<string, CheckpointInfo>> {
  const rows = await em.query<{ projection: string; position: string; version: number; updated_at: unknown }>(
    `SELECT projection, CAST(position AS TEXT) AS position, version, updated_at FROM ${sql.table(CHECKPOINTS)}`,
    [],
  );
  return new Map(
    rows.map((r) => [r.projection, { projection: r.projection, position: BigInt(r.position), version: Number(r.version), updatedAt: toDate(r.updated_at) }]),
  );
}

/**
 * Live application of a projection holds this lock shared for the length of its transaction; a
 * rebuild takes it exclusive to catch up and swap, so nothing reaches the old tables meanwhile.
 * PostgreSQL only: SQLite has one writer at a time, and the swap is one write transaction.
 * Taking an advisory lock assigns no transaction id, so waiting on it holds back no event-store reader.
 */
export async function lockProjections(em: SqlRunner, sql: SqlDialect, names: ReadonlyArray<string>, mode: 'shared' | 'exclusive'): Promise<void> {
  if (sql.name !== 'postgresql' || names.length === 0) return;
  const fn = mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock';
  // Literals, not parameters: a statement without any can travel with the transaction's BEGIN (pg-db.ts).
  const literal = (s: string): string => `'${s.replace(/'/g, "''")}'`;
  const scope = literal(`read-models:${sql.schema ?? ''}`);
  await em.query(`SELECT ${names.map((n) => `${fn}(hashtext(${scope}), hashtext(${literal(n)}))`).join(', ')}`, []);
}

/**
 * Inside a transaction: pauses live application of one projection until the transaction ends.
 * PostgreSQL: the projection's lock, exclusive, against the shared one every live batch holds.
 * SQLite: a write first, so the database's single write lock is ours before anything is read.
 */
export async function pauseLiveApplication(em: SqlRunner, sql: SqlDialect, name: string): Promise<void> {
  await lockProjections(em, sql, [name], 'exclusive');
  if (sql.name === 'sqlite') await em.query(`UPDATE ${sql.table(CHECKPOINTS)} SET version = version WHERE projection = ?`, [name]);
}
