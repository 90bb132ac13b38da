/**
 * `chat audit verify`: are the live read models what the log says? Replays the whole log into a
 * fresh scratch copy of every projection's tables and compares them with the live ones, table by
 * table, inside the database (EXCEPT both ways), so neither side is ever loaded into memory.
 *
 * Scratch: PostgreSQL, a schema <live>_verify_<id> migrated like the live one (plain indexes dropped:
 * the replay only needs the keys); SQLite, a temporary file ATTACHed to the live connection. Either
 * is dropped at the end, whatever happens. One verify per PostgreSQL schema at a time (an advisory
 * lock, under which leftovers of a crashed run are dropped).
 *
 * Consistency with a live model that keeps moving: the replay first goes up to the log head, then
 * each projection is compared inside one snapshot of the live database (PostgreSQL: REPEATABLE READ
 * READ ONLY, which holds back no writer and no log reader) that also reads its checkpoint. A live
 * checkpoint ahead of the replay is caught up with and the comparison retried; one behind it is
 * waited for (`waitMs`), and reported 'behind' if it does not arrive: a projection that is behind
 * the log is not what the log says.
 *
 * Compared: every column but surrogate ids (autoincrement keys), rows matched by the natural key
 * (the primary key, or the unique column of a table with a surrogate id). Not compared: the inbox,
 * checkpoints, dead letters and error log, which are bookkeeping rather than read models.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { EventStore } from '../../commands/ports/event-store.js';
import type { Logger } from 'pino';
import { quoteIdent, type SqlDialect, type SqlParam } from '../ports/sql.js';
import type { SqlProjection } from '../projection.js';
import { readCheckpoints, type Target } from '../runtime/apply.js';
import { errorMessage } from '../runtime/sql-projector.js';
import { createLogReplay, type ReplayFailure } from './replay.js';
import { displayRow, withoutText, type Row } from './rows.js';
import type { ColumnKind, ReadModelDb, SqlRunner } from '../ports/read-model.js';
import { setTimeout as sleep } from 'node:timers/promises';

export type { Cell, Row } from './rows.js';

export interface RowDifference {
  /** missing: the replay has the row, live does not; extra: live only; changed: both, other values. */
  kind: 'missing' | 'extra' | 'changed';
  key: Row;
  live: Row | null;
  replayed: Row | null;
  /** Columns whose values differ (changed rows). */
  columns: string[];
}

export interface TableReport {
  table: string;
  projection: string;
  liveRows: number;
  replayedRows: number;
  missing: number;
  extra: number;
  changed: number;
  /** The first differing rows in key order. */
  differences: RowDifference[];
}

export type ProjectionVerdict = 'equal' | 'different' | 'behind' | 'ahead';

export interface ProjectionReport {
  projection: string;
  verdict: ProjectionVerdict;
  liveCheckpoint: string;
  replayedThrough: string;
  /** The live tables were built by another version of the projection's code. */
  needsRebuild: boolean;
  tables: TableReport[];
}

export interface VerifyReport {
  ok: boolean;
  /** Log events replayed, and the head the replay went to first. */
  events: number;
  head: string;
  seconds: number;
  eventsPerSecond: number;
  projections: ProjectionReport[];
  /** Events a projection could not apply in the replay (left out, as the live runtime parks them). */
  replayFailures: ReplayFailure[];
}

export interface VerifyProgress {
  phase: 'replay' | 'compare';
  events: number;
  first: bigint | null;
  position: bigint;
  head: bigint;
}

export interface VerifyOptions {
  db: ReadModelDb;
  store: EventStore;
  projections: ReadonlyArray<SqlProjection>;
  logger: Logger;
  /** Events per page and per replay transaction; default 5,000. */
  batchSize?: number;
  /** Differing rows shown per table; default 5. */
  sampleRows?: number;
  /** How long to wait for a live projection behind the replay to catch up; default 5 s. */
  waitMs?: number;
  onProgress?: (progress: Readonly<VerifyProgress>) => void;
  /** SQLite: where the scratch copy's temporary directory goes; default the system's temporary directory. */
  scratchDir?: string;
}

export class VerifyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VerifyError';
  }
}


export async function verifyReadModels(opts: VerifyOptions): Promise<VerifyReport> {
  const { db, store, projections } = opts;
  const sql = db.sql;
  const log = opts.logger.child({ component: 'audit-verify' });
  const started = performance.now();
  const waitMs = opts.waitMs ?? 5_000;
  const shapes = new Map(projections.map((p) => [p.name, p.entities.map((e) => tableShape(db, e.meta.className))]));
  const scratch = await createVerifyCopy(db, sql, opts.scratchDir ?? tmpdir());
  try {
    const head = await store.headPosition();
    const replay = createLogReplay({
      db, store, projections, target: scratch.target, ...(opts.batchSize ? { batchSize: opts.batchSize } : {}),
      onProgress: (p) => opts.onProgress?.({ phase: 'replay', events: p.events, first: p.first, position: p.position, head: head > p.position ? head : p.position }),
    });
    log.info({ head: head.toString() }, 'verify: replaying the log into scratch tables');
    await replay.advance(new Map(projections.map((p) => [p.name, head])));

    const reports = new Map<string, ProjectionReport>();
    const deadline = Date.now() + waitMs;
    let pending = [...projections];
    for (let attempt = 1; pending.length > 0; attempt++) {
      const finalAttempt = Date.now() >= deadline || attempt >= 50;
      // Catch up with live checkpoints that are ahead; wait a little for those behind.
      const cps = await readCheckpoints(db, sql);
      const cp = (name: string): bigint => cps.get(name)?.position ?? 0n;
      await replay.advance(new Map(pending.filter((p) => cp(p.name) > replay.positionOf(p.name)).map((p) => [p.name, cp(p.name)])));
      if (!finalAttempt && pending.some((p) => cp(p.name) < replay.positionOf(p.name))) {
        await sleep(200);
        continue;
      }
      opts.onProgress?.({ phase: 'compare', events: replay.progress.events, first: replay.progress.first, position: replay.progress.position, head });
      const again: SqlProjection[] = [];
      await db.transaction(async (em) => {
        if (sql.name === 'postgresql') await em.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
        const live = await readCheckpoints(em, sql); // in the snapshot the tables are read from
        for (const p of pending) {
          const at = live.get(p.name)?.position ?? 0n;
          const through = replay.positionOf(p.name);
          if (at > through && !finalAttempt) {
            again.push(p); // moved on since: catch up and compare again
            continue;
          }
          const tables: TableReport[] = [];
          for (const shape of shapes.get(p.name)!) tables.push(await compareTable(em, sql, shape, scratch.ref(shape.table), p.name, opts.sampleRows ?? 5));
          const differs = tables.some((t) => t.missing + t.extra + t.changed > 0);
          reports.set(p.name, {
            projection: p.name,
            verdict: at < through ? 'behind' : at > through ? 'ahead' : differs ? 'different' : 'equal',
            liveCheckpoint: at.toString(),
            replayedThrough: through.toString(),
            needsRebuild: (live.get(p.name)?.version ?? p.version) !== p.version,
            tables,
          });
        }
      });
      pending = again;
    }
    const seconds = (performance.now() - started) / 1000;
    const events = replay.progress.events;
    const ordered = projections.map((p) => reports.get(p.name)!);
    const report: VerifyReport = {
      ok: ordered.every((r) => r.verdict === 'equal'),
      events,
      head: head.toString(),
      seconds,
      eventsPerSecond: seconds > 0 ? Math.round(events / seconds) : events,
      projections: ordered,
      replayFailures: [...replay.failures],
    };
    log.info({ ok: report.ok, events, seconds }, 'verify: done');
    return report;
  } finally {
    await scratch.drop().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'verify: could not drop the scratch copy'));
  }
}

// ---------------------------------------------------------------------------------------------
// Table shapes, from MikroORM's discovered metadata (the same entities the migrations create).

type Kind = ColumnKind;

interface TableShape {
  table: string;
  /** Every compared column (surrogate ids left out), in table order. */
  columns: string[];
  keys: string[];
  kinds: Map<string, Kind>;
}

function tableShape(db: ReadModelDb, className: string): TableShape {
  const shape = db.shapeOf(className);
  if (!shape) throw new VerifyError(`entity ${className} is not registered with the read-model ORM`);
  const columns = shape.columns.map((c) => c.name);
  const primary = shape.columns.filter((c) => c.primary).map((c) => c.name);
  const keys = primary.length > 0 ? primary : shape.columns.filter((c) => c.unique).map((c) => c.name);
  if (keys.length === 0) throw new VerifyError(`table ${shape.table} has no natural key to match rows by`);
  return { table: shape.table, columns, keys, kinds: new Map(shape.columns.map((c) => [c.name, c.kind])) };
}

// ---------------------------------------------------------------------------------------------
// The comparison, in SQL: rows of one side that the other does not hold, both ways.

async function compareTable(em: SqlRunner, sql: SqlDialect, shape: TableShape, scratchTable: string, projection: string, sampleRows: number): Promise<TableReport> {
  const live = sql.table(shape.table);
  const cols = shape.columns.map(quoteIdent).join(', ');
  const keys = shape.keys.map(quoteIdent);
  const on = (a: string, b: string): string => keys.map((k) => `${a}.${k} = ${b}.${k}`).join(' AND ');
  const sides = `r AS (SELECT ${cols} FROM ${scratchTable} EXCEPT SELECT ${cols} FROM ${live}),
                 l AS (SELECT ${cols} FROM ${live} EXCEPT SELECT ${cols} FROM ${scratchTable})`;
  const [counts] = await em.query<Record<'live_rows' | 'replayed_rows' | 'replay_only' | 'live_only' | 'changed', number | string>>(
    `WITH ${sides}
     SELECT (SELECT COUNT(*) FROM ${live}) AS live_rows, (SELECT COUNT(*) FROM ${scratchTable}) AS replayed_rows,
            (SELECT COUNT(*) FROM r) AS replay_only, (SELECT COUNT(*) FROM l) AS live_only,
            (SELECT COUNT(*) FROM r JOIN l ON ${on('r', 'l')}) AS changed`,
  );
  const n = (k: keyof NonNullable<typeof counts>): number => Number(counts?.[k] ?? 0);
  const changed = n('changed');
  const report: TableReport = {
    table: shape.table, projection, liveRows: n('live_rows'), replayedRows: n('replayed_rows'),
    missing: n('replay_only') - changed, extra: n('live_only') - changed, changed, differences: [],
  };
  if (n('replay_only') + n('live_only') === 0 || sampleRows < 1) return report;

  const rows = await em.query<Record<string, unknown>>(
    `WITH ${sides},
          k AS (SELECT ${keys.join(', ')} FROM r UNION SELECT ${keys.join(', ')} FROM l ORDER BY ${keys.join(', ')} LIMIT ?)
     SELECT 'replayed' AS verify_side, r.* FROM r JOIN k ON ${on('r', 'k')}
     UNION ALL
     SELECT 'live' AS verify_side, l.* FROM l JOIN k ON ${on('l', 'k')}`,
    [sampleRows] as SqlParam[],
  );
  const byKey = new Map<string, { key: Row; live: Row | null; replayed: Row | null }>();
  for (const raw of rows) {
    const row = displayRow(shape.columns, shape.kinds, raw);
    const key = Object.fromEntries(shape.keys.map((k) => [k, row[k] ?? null])) as Row;
    const id = JSON.stringify(key);
    const entry = byKey.get(id) ?? { key, live: null, replayed: null };
    if (raw['verify_side'] === 'live') entry.live = row;
    else entry.replayed = row;
    byKey.set(id, entry);
  }
  report.differences = [...byKey.values()]
    .sort((a, b) => compareKeys(shape, a.key, b.key))
    .map((d) => ({
      kind: d.live && d.replayed ? 'changed' : d.live ? 'extra' : 'missing',
      key: d.key,
      live: d.live && withoutText(d.live),
      replayed: d.replayed && withoutText(d.replayed),
      // Compared before the text is hidden: two bodies of one length still differ.
      columns: d.live && d.replayed ? shape.columns.filter((c) => d.live![c] !== d.replayed![c]) : [],
    }));
  return report;
}

function compareKeys(shape: TableShape, a: Row, b: Row): number {
  for (const k of shape.keys) {
    const x = a[k] ?? null;
    const y = b[k] ?? null;
    if (x === y) continue;
    if (x === null) return -1;
    if (y === null) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The scratch copy.

interface Scratch {
  target: Target;
  /** Quoted name of a scratch table. */
  ref(table: string): string;
  drop(): Promise<void>;
}

const newId = (): string => `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const ATTACHED = 'verify_scratch';

/**
 * The whole read model, fresh from its migrations, in a schema (PostgreSQL) or attached file (SQLite)
 * of its own, to replay into, compare and throw away. Not rebuild-scratch.ts's createScratch, which
 * copies one projection's live tables to swap them in.
 */
async function createVerifyCopy(db: ReadModelDb, sql: SqlDialect, scratchDir: string): Promise<Scratch> {
  if (sql.name === 'postgresql') return createPgVerifyCopy(db, sql);
  const dir = mkdtempSync(path.join(scratchDir, 'chat-verify-'));
  const file = path.join(dir, 'scratch.sqlite');
  let attached = false;
  const drop = async (): Promise<void> => {
    if (attached) await db.query(`DETACH DATABASE ${quoteIdent(ATTACHED)}`);
    attached = false;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const fresh = await db.openFresh({ file });
    try {
      // The replay needs only the keys (ON CONFLICT); other indexes would just slow it down.
      const indexes = await fresh.query<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'`);
      for (const i of indexes) await fresh.query(`DROP INDEX ${quoteIdent(i.name)}`);
    } finally {
      await fresh.close();
    }
    // ATTACH is per connection: the read-model ORM on SQLite has one, so every later statement sees it.
    await db.query(`ATTACH DATABASE ? AS ${quoteIdent(ATTACHED)}`, [file]);
    attached = true;
    // A throwaway copy: no fsync per replay transaction.
    await db.query(`PRAGMA ${quoteIdent(ATTACHED)}.synchronous = OFF`);
  } catch (err) {
    await drop().catch(() => undefined);
    throw err;
  }
  const ref = (t: string): string => `${quoteIdent(ATTACHED)}.${quoteIdent(t)}`;
  return { target: { table: ref }, ref, drop };
}

async function createPgVerifyCopy(db: ReadModelDb, sql: SqlDialect): Promise<Scratch> {
  const live = sql.schema ?? 'public';
  const prefix = `${live.slice(0, 40)}_verify_`;
  const schema = `${prefix}${newId()}`;
  // One verify per schema at a time: a session advisory lock on a connection of its own, held to the end.
  const guard = new pg.Client({ connectionString: db.connectionString });
  guard.on('error', () => undefined);
  await guard.connect();
  const release = (): Promise<void> => guard.end().catch(() => undefined);
  try {
    const res = await guard.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok', ['read-models-verify', live]);
    if (!res.rows[0]?.ok) throw new VerifyError(`a verify of schema ${live} is already running`);
    const leftovers = await guard.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)', [prefix]);
    for (const { nspname } of leftovers.rows) await guard.query(`DROP SCHEMA IF EXISTS ${quoteIdent(nspname)} CASCADE`);
    const fresh = await db.openFresh({ schema });
    try {
      // Plain indexes slow the replay down and the comparison does not need them; constraint indexes stay (ON CONFLICT).
      await fresh.query(
        `DO $$ DECLARE i record; BEGIN
           FOR i IN SELECT n.nspname, c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = ${pgLiteral(schema)} AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)
           LOOP EXECUTE format('DROP INDEX %I.%I', i.nspname, i.relname); END LOOP; END $$`,
      );
    } finally {
      await fresh.close();
    }
  } catch (err) {
    await guard.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`).catch(() => undefined);
    await release();
    throw err;
  }
  const ref = (t: string): string => sql.tableIn(schema, t);
  return {
    target: { table: ref },
    ref,
    async drop() {
      try {
        await guard.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
      } finally {
        await release();
      }
    },
  };
}

/** A PostgreSQL string literal (for the one DO block, which takes no parameters). */
const pgLiteral = (s: string): string => `'${s.replace(/'/g, "''")}'`;

