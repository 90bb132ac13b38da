/**
 * Blue/green rebuild of one projection: replay the whole log into fresh copies of its tables through
 * the same apply code the live path runs, then swap them in, with the projection's inbox and
 * checkpoint, in one transaction.
 *
 * 1. Fresh tables. PostgreSQL: a scratch schema holding CREATE TABLE ... (LIKE live INCLUDING ALL)
 *    copies (columns, defaults, identity, constraints and indexes, with the same names). SQLite: copies
 *    named <table>__rb_<id>, made from the live tables' own DDL in sqlite_master.
 * 2. Replay, outside any lock, in pages of `batchSize` events (one transaction each, the next page
 *    read while this one is applied), while live application goes on in the old tables. No inbox rows
 *    are written: the rebuild reads the log once, in order.
 * 3. Swap. One transaction that first pauses live application of this projection (PostgreSQL: the
 *    projection's advisory lock, exclusive, against the shared one every live batch holds; SQLite:
 *    the database's single write lock, taken before anything is read), then reads the log head H,
 *    applies what came since step 2, and swaps: PostgreSQL drops the old tables and moves the new
 *    ones in (ALTER TABLE ... SET SCHEMA, no data copied); SQLite copies the rows across (its DDL
 *    names would otherwise keep the suffix). The checkpoint becomes H with rebuilt_through = H, and
 *    the projection's inbox rows are deleted: every event at or below H is in the new tables (live
 *    application had applied nothing beyond H: whatever it applied before the pause was visible in
 *    the log by then), so a redelivery at or below H is a duplicate by position, and anything after H
 *    is delivered later and applied to the new tables.
 *
 * A rebuild stops rather than skip an event it cannot apply, unless that event is already parked as a
 * dead letter of this projection (then it stays parked, below the new floor, so still skipped).
 * An event of a type it handles at a version this release cannot read is parked (a 'park-and-continue'
 * projection; a retry applies it below the floor) or stops the rebuild ('park-and-stop': such a
 * projection is rebuilt by a release that reads it).
 *
 * rebuild-scratch.ts makes the fresh tables and swaps them in (step 1 and the swap of step 3).
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { EventStore, RecordedEvent } from '../../commands/ports/event-store.js';
import { toPublicRecord } from '../ports/public-record.js';
import type { Logger } from 'pino';
import { quoteIdent, type SqlDialect } from '../ports/sql.js';
import type { ProjectionEvent, SqlProjection } from '../projection.js';
import {
  CHECKPOINTS,
  DEAD_LETTERS,
  ProjectionApplyError,
  applyEvents,
  ensureCheckpoints,
  pauseLiveApplication,
  normalizeId,
  toItem,
  type Item,
} from './apply.js';
import { insertDeadLetters } from './dead-letters.js';
import { createScratch, scratchPrefix, type Scratch } from './rebuild-scratch.js';
import type { EventReader } from './event-reader.js';
import { errorMessage } from './sql-projector.js';
import type { ReadModelDb, SqlRunner } from '../ports/read-model.js';

export interface RebuildProgress {
  phase: 'replay' | 'swap' | 'done';
  /** Log events read so far (all types). */
  events: number;
  /** Events applied to the projection (the types it handles). */
  applied: number;
  position: bigint;
  head: bigint;
}

export interface RebuildResult {
  projection: string;
  events: number;
  applied: number;
  /** Events that failed but were already parked as dead letters: left parked. */
  skippedParked: number;
  /** Events of a version this release cannot read: parked (or left parked) for a release that reads them. */
  parkedUnknown: number;
  position: bigint;
  seconds: number;
  /** Log events processed per second, whole rebuild (replay and swap). */
  eventsPerSecond: number;
}

export interface RebuildOptions {
  db: ReadModelDb;
  store: EventStore;
  projections: ReadonlyArray<SqlProjection>;
  /** The projection to rebuild. */
  name: string;
  logger: Logger;
  /** Events per page and per transaction. */
  batchSize?: number;
  onProgress?: (progress: RebuildProgress) => void;
  /** The upcasters records are read with; default this release's. */
  reader?: EventReader;
}

export class RebuildError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RebuildError';
  }
}

/** Another process holds this projection's rebuild: it is being done already. */
export class RebuildBusyError extends RebuildError {
  constructor(name: string) {
    super(`a rebuild of ${name} is already running`);
    this.name = 'RebuildBusyError';
  }
}

export async function rebuildProjection(opts: RebuildOptions): Promise<RebuildResult> {
  const { db, store, name } = opts;
  const projection = opts.projections.find((p) => p.name === name);
  if (!projection) throw new RebuildError(`unknown projection "${name}"; known: ${opts.projections.map((p) => p.name).join(', ')}`);
  const sql = db.sql;
  const log = opts.logger.child({ component: 'rebuild', projection: name });
  const batchSize = opts.batchSize ?? 5_000;
  const started = performance.now();
  const guard = await takeRebuildGuard(db, sql, name);
  let scratch: Scratch | null = null;
  try {
    await ensureCheckpoints(db, sql, opts.projections);
    scratch = await createScratch(db, sql, projection);
    const target = scratch.target;
    const handled = new Set<string>(projection.handles);
    let events = 0;
    let applied = 0;
    let skippedParked = 0;
    let parkedUnknown = 0;
    let after = 0n;
    let head = await store.headPosition();
    const progress = (phase: RebuildProgress['phase']): void =>
      opts.onProgress?.({ phase, events, applied, position: after, head: head > after ? head : after });

    interface Page {
      events: ProjectionEvent[];
      unknown: Item[];
    }
    const toEvents = (page: ReadonlyArray<RecordedEvent>): Page => {
      const out: Page = { events: [], unknown: [] };
      for (const e of page) {
        if (!handled.has(e.type)) continue;
        const item = toItem(toPublicRecord(e), opts.reader);
        if (item.event) out.events.push(item.event);
        else out.unknown.push(item);
      }
      return out;
    };

    /** Events of a version this release cannot read: parked for a release that reads them, never guessed at. */
    const parkUnknown = async (em: SqlRunner, unknown: Item[]): Promise<void> => {
      if (unknown.length === 0) return;
      if (projection.onUnknown === 'park-and-stop') {
        const first = unknown[0]!;
        throw new RebuildError(
          `${name}: event ${first.record.id} at position ${first.record.position}: ${first.unknown!.message}. ` +
            "A 'park-and-stop' projection is rebuilt by a release that reads every event it handles.",
        );
      }
      await insertDeadLetters(
        em,
        sql,
        unknown.map((i) => ({
          projection: name, eventId: normalizeId(i.record.id), position: BigInt(i.record.position), record: i.record,
          error: i.unknown!.message, stack: null, attempts: 1,
        })),
        'keep',
      );
      parkedUnknown += unknown.length;
      log.warn({ events: unknown.map((i) => i.record.id) }, 'rebuild: events this release cannot read parked as dead letters');
    };

    /** Applies a page; on a failure, event by event, skipping only events already parked for this projection. */
    const applyPage = async (em: SqlRunner, page: Page): Promise<void> => {
      await parkUnknown(em, page.unknown);
      const evs = page.events;
      if (evs.length === 0) return;
      await em.query('SAVEPOINT rebuild_page', []);
      try {
        await applyEvents(em, sql, projection, target, evs);
        await em.query('RELEASE SAVEPOINT rebuild_page', []);
        applied += evs.length;
        return;
      } catch (err) {
        if (!(err instanceof ProjectionApplyError)) throw err;
        await em.query('ROLLBACK TO SAVEPOINT rebuild_page', []);
        await em.query('RELEASE SAVEPOINT rebuild_page', []);
      }
      for (const e of evs) {
        await em.query('SAVEPOINT rebuild_event', []);
        try {
          await applyEvents(em, sql, projection, target, [e]);
          applied++;
        } catch (err) {
          if (!(err instanceof ProjectionApplyError)) throw err;
          await em.query('ROLLBACK TO SAVEPOINT rebuild_event', []);
          const parked = (await em.query(
            `SELECT 1 AS parked FROM ${sql.table(DEAD_LETTERS)} WHERE projection = ? AND event_id = ? AND retried_at IS NULL`,
            [name, e.id],
          )) as unknown[];
          if (parked.length === 0) {
            throw new RebuildError(
              `${name}: event ${e.id} (${e.event.type}) at position ${e.position} cannot be applied: ${errorMessage(err.cause)}. ` +
                'A rebuild stops rather than skip an event; fix the projection, or let live application park it first.',
              { cause: err.cause },
            );
          }
          skippedParked++; // below the new floor, so still skipped on redelivery
          log.warn({ eventId: e.id }, 'event is parked as a dead letter; left parked');
        }
        await em.query('RELEASE SAVEPOINT rebuild_event', []);
      }
    };

    // 2. Replay until a read comes back empty, reading the next page while this one is applied.
    const replay = async (): Promise<void> => {
      const read = (from: bigint): Promise<RecordedEvent[]> => {
        const p = store.readAll({ after: from, maxCount: batchSize });
        p.catch(() => undefined); // awaited below; this only keeps an early exit from leaving it unhandled
        return p;
      };
      let next = read(after);
      for (;;) {
        const page = await next;
        if (page.length === 0) return;
        after = page[page.length - 1]!.position;
        next = read(after);
        const evs = toEvents(page);
        await db.transaction((em) => applyPage(em, evs));
        events += page.length;
        if (after > head) head = after;
        progress('replay');
      }
    };
    log.info({ head: head.toString() }, 'rebuild: replaying the log into fresh tables');
    await replay();
    await scratch.finishReplay();
    await replay(); // what came during the index builds, so that little is left for the paused part

    // 3. Pause live application, catch up with the head, swap.
    await db.transaction(async (em) => {
      // Before the head is read, so nothing live is applied past it.
      await pauseLiveApplication(em, sql, name);
      head = await store.headPosition();
      while (after < head) {
        const page = await store.readAll({ after, maxCount: batchSize });
        const within = page.filter((e) => e.position <= head);
        if (within.length === 0) break;
        await applyPage(em, toEvents(within));
        events += within.length;
        after = within[within.length - 1]!.position;
        progress('swap');
        if (within.length < page.length) break;
      }
      await scratch!.swap(em);
      await em.query(
        `INSERT INTO ${sql.table(CHECKPOINTS)} (projection, position, version, updated_at, rebuilt_through)
         VALUES (?, ${sql.position()}, ?, ?, ${sql.position()})
         ON CONFLICT (projection) DO UPDATE SET position = excluded.position, version = excluded.version,
           updated_at = excluded.updated_at, rebuilt_through = excluded.rebuilt_through`,
        [name, after.toString(), projection.version, sql.time(new Date()), after.toString()],
      );
    });
    scratch = null;
    const seconds = (performance.now() - started) / 1000;
    progress('done');
    const result: RebuildResult = {
      projection: name,
      events,
      applied,
      skippedParked,
      parkedUnknown,
      position: after,
      seconds,
      eventsPerSecond: seconds > 0 ? Math.round(events / seconds) : events,
    };
    log.info({ ...result, position: after.toString() }, 'rebuild: swapped in');
    return result;
  } finally {
    if (scratch) await scratch.drop().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'rebuild: could not drop the scratch tables'));
    await guard.release();
  }
}

/**
 * One rebuild per projection at a time (PostgreSQL: a session advisory lock on a connection of its
 * own); holding it also makes it safe to drop scratch schemas a crashed rebuild left behind.
 */
async function takeRebuildGuard(db: ReadModelDb, sql: SqlDialect, name: string): Promise<{ release(): Promise<void> }> {
  if (sql.name !== 'postgresql') return { release: async () => undefined };
  const client = new pg.Client({ connectionString: db.connectionString });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const res = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok', [
      `read-models-rebuild:${sql.schema ?? ''}`,
      name,
    ]);
    if (!res.rows[0]?.ok) throw new RebuildBusyError(name);
    const leftovers = await client.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)', [scratchPrefix(sql, name)]);
    for (const { nspname } of leftovers.rows) await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(nspname)} CASCADE`);
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  return { release: () => client.end().catch(() => undefined) };
}
