/**
 * Applies public records to the SQL projections, exactly once in effect: at-least-once delivery
 * (the broker consumer, or the store feed) plus, in ONE transaction per batch, the read-model
 * writes, the inbox rows that mark them done and the checkpoints.
 *
 * - A batch that fails inside a projection is rolled back and re-run one record per transaction,
 *   each projection in a savepoint of its own: good records and good projections commit, and the
 *   failing (record, projections) are reported. Parking is the caller's decision (it counts attempts).
 * - Failures of the runtime's own statements, and transient database errors, are thrown: nothing of
 *   that batch committed (or, if thrown during the one-by-one pass, what committed is in the inbox
 *   and a redelivery skips it).
 * - Records of a type no projection handles are counted as ignored and acknowledged.
 * - Records this release cannot read (a type or schema version a newer release wrote) are never guessed
 *   at: they are parked in the batch's own transaction (see event-reader.ts) and count as processed,
 *   so nothing waits on them; each projection then continues or stops per its `onUnknown` policy.
 *   retryUnknown() (run when the projector starts) re-applies them once a release reads them, and a
 *   stopped projection catches up from the log.
 */
import type { EventStore } from '../../commands/ports/event-store.js';
import { toPublicRecord, type PublicRecord } from '../ports/public-record.js';
import { parsePublicRecord } from '../ports/public-record.js';
import type { Logger } from 'pino';
import type { SqlParam } from '../ports/sql.js';
import type { SqlProjection } from '../projection.js';
import {
  DEAD_LETTERS,
  INBOX,
  NO_PROJECTION,
  ProjectionApplyError,
  advanceCheckpoints,
  applyEvents,
  claim,
  ensureCheckpoints,
  handles,
  liveTarget,
  lockProjections,
  normalizeId,
  pairKey,
  pauseLiveApplication,
  readCheckpoints,
  readFloors,
  rootError,
  toItem,
  toItems,
  wants,
  type CheckpointInfo,
  type Item,
} from './apply.js';
import { insertDeadLetters, readFloorsAndStops, readStops, type DeadLetterInsert, type StoppedAt } from './dead-letters.js';
import { CURRENT_READER, UNKNOWN_ERROR_CONDITION, unknownReasonOf, type EventReader } from './event-reader.js';
import type { ReadModelDb, SqlRunner } from '../ports/read-model.js';

export interface FailedRecord {
  record: PublicRecord;
  error: unknown;
  /** The projections that could not apply it (the others did). */
  projections: string[];
}

export interface ApplyBatchResult {
  /** Records applied by at least one projection. */
  applied: number;
  /** Records every handling projection had already applied (redeliveries), or holds back while stopped. */
  duplicates: number;
  /** Records no projection handles (uninteresting types): acknowledged. */
  ignored: number;
  /** Records this release cannot read (unknown type or version): parked as dead letters, acknowledged. */
  parked: number;
  failed: FailedRecord[];
}

export interface RetryOptions {
  projection?: string;
  ids?: ReadonlyArray<number | bigint | string>;
  /** Only events parked because this release could not read them (unknown type or version). */
  unknownOnly?: boolean;
  /**
   * Fetches the record again (e.g. from the event store, so a fixed upcaster applies); null keeps the
   * stored one. Default: from the projector's store when it has one.
   */
  reload?: (record: PublicRecord) => Promise<PublicRecord | null>;
}

export interface RetryResult {
  retried: number;
  failed: Array<{ id: string; projection: string; eventId: string; error: string }>;
}

export interface SqlProjector {
  readonly projections: ReadonlyArray<SqlProjection>;
  applyBatch(records: PublicRecord[]): Promise<ApplyBatchResult>;
  /** Writes a dead letter (one per projection and event) and marks the event done so a redelivery is skipped. */
  park(record: PublicRecord, error: unknown, attempts: number): Promise<void>;
  /**
   * Re-applies parked events, oldest first; a success marks the dead letter retried, a failure updates
   * its error. A 'park-and-stop' projection whose stop is retried then catches up from the log (needs `store`).
   */
  retryDeadLetters(options?: RetryOptions): Promise<RetryResult>;
  /** retryDeadLetters for the events parked as unknown: what a new release does when its projector starts. */
  retryUnknown(): Promise<RetryResult>;
  /** Checkpoint of every projection (rows are created at position 0 on first use). */
  checkpoints(): Promise<Map<string, CheckpointInfo>>;
}

export interface SqlProjectorOptions {
  db: ReadModelDb;
  projections: ReadonlyArray<SqlProjection>;
  logger: Logger;
  /** The upcasters records are read with; default this release's (domain/upcast.ts). */
  reader?: EventReader;
  /** The log: re-reads retried events and lets a stopped projection catch up. Optional (tests, benches). */
  store?: EventStore;
  /** Log events per page when a stopped projection catches up. Default 500. */
  catchUpPageSize?: number;
}

export const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const errorStack = (err: unknown): string | null => (err instanceof Error && typeof err.stack === 'string' ? err.stack : null);


const maxPosition = (items: ReadonlyArray<Item>): bigint => items.reduce((m, i) => (BigInt(i.record.position) > m ? BigInt(i.record.position) : m), 0n);

/** The event as the store holds it now (so a fixed upcaster applies on retry); null when it is gone. */
export const reloadFromStore = (store: EventStore) => async (record: PublicRecord): Promise<PublicRecord | null> => {
  if (record.streamId.startsWith('$')) return null;
  const [e] = await store.readStream(record.streamId, { fromRevision: record.revision, maxCount: 1 });
  return e && e.id.toLowerCase() === record.id.toLowerCase() ? toPublicRecord(e) : null;
};

const emptyResult = (): ApplyBatchResult => ({ applied: 0, duplicates: 0, ignored: 0, parked: 0, failed: [] });

function addResult(into: ApplyBatchResult, r: ApplyBatchResult): void {
  into.applied += r.applied;
  into.duplicates += r.duplicates;
  into.ignored += r.ignored;
  into.parked += r.parked;
  into.failed.push(...r.failed);
}

export function createSqlProjector(opts: SqlProjectorOptions): SqlProjector {
  const { db, projections, store } = opts;
  const reader = opts.reader ?? CURRENT_READER;
  const log = opts.logger.child({ component: 'sql-projector' });
  const sql = db.sql;
  /** A failure to isolate record by record (not a transient one: those are thrown so the whole batch is retried). */
  const isApplyFailure = (err: unknown): err is ProjectionApplyError => err instanceof ProjectionApplyError && !db.isTransient(err.cause);
  const live = liveTarget(sql);
  const names = projections.map((p) => p.name);
  if (new Set(names).size !== names.length) throw new Error('projection names must be unique');
  const pageSize = opts.catchUpPageSize ?? 500;

  let ready: Promise<void> | null = null;
  const ensureReady = (): Promise<void> => {
    ready ??= (async () => {
      const em = db;
      await ensureCheckpoints(em, sql, projections);
      const stored = await readCheckpoints(em, sql);
      for (const p of projections) {
        const v = stored.get(p.name)?.version;
        if (v !== undefined && v !== p.version) {
          log.warn({ projection: p.name, stored: v, code: p.version }, 'projection version changed: run `chat projections rebuild` for it');
        }
      }
    })().catch((err: unknown) => {
      ready = null;
      throw err;
    });
    return ready;
  };

  const NONE: ReadonlySet<string> = new Set();
  /** `resuming`: event ids of stops being resolved by a resume, which no longer hold anything back. */
  const stopsOf = (em: SqlRunner, only: ReadonlyArray<SqlProjection>, resuming: ReadonlySet<string> = NONE): Promise<Map<string, StoppedAt>> =>
    readStops(em, sql, only, resuming);
  /** Events a stopped projection holds back: everything after the event it stopped at. */
  const held = (stops: ReadonlyMap<string, StoppedAt>, p: SqlProjection, position: bigint): boolean => {
    const stop = stops.get(p.name);
    return stop !== undefined && position > stop.position;
  };

  /**
   * Checkpoints move to the batch's end, except a stopped projection's, which stays at the event it
   * stopped at: status then shows it behind, and a store feed restarted from it replays what it holds back.
   */
  async function advance(em: SqlRunner, only: ReadonlyArray<string>, stops: ReadonlyMap<string, StoppedAt>, position: bigint): Promise<void> {
    await advanceCheckpoints(em, sql, only.filter((n) => !stops.has(n)), position);
    for (const n of only) {
      const stop = stops.get(n);
      if (stop) await advanceCheckpoints(em, sql, [n], stop.position < position ? stop.position : position);
    }
  }

  /**
   * Parks the records this release cannot read, in the caller's transaction: an unknown type once under
   * '*', an unknown version of a handled type for each projection that handles it (marked done in its
   * inbox, so compaction passes it and a redelivery is skipped). Updates `stops` for 'park-and-stop' ones.
   */
  async function parkUnknown(em: SqlRunner, items: ReadonlyArray<Item>, only: ReadonlyArray<SqlProjection>, floors: ReadonlyMap<string, bigint>, stops: Map<string, StoppedAt>): Promise<void> {
    const letters: DeadLetterInsert[] = [];
    const pairs: Array<{ p: SqlProjection; item: Item }> = [];
    const letterOf = (projection: string, item: Item): DeadLetterInsert => ({
      projection, eventId: normalizeId(item.record.id), position: BigInt(item.record.position), record: item.record,
      error: item.unknown!.message, stack: null, attempts: 1,
    });
    for (const item of items) {
      if (!item.unknown) continue;
      if (item.unknown.reason === 'unknown-type') {
        letters.push(letterOf(NO_PROJECTION, item));
        continue;
      }
      const position = BigInt(item.record.position);
      for (const p of only) {
        if (!wants(p, item) || position <= (floors.get(p.name) ?? 0n) || held(stops, p, position)) continue;
        pairs.push({ p, item });
      }
    }
    const claimed = await claim(em, sql, pairs.map(({ p, item }) => ({ projection: p.name, eventId: normalizeId(item.record.id) })));
    for (const { p, item } of pairs) {
      const eventId = normalizeId(item.record.id);
      if (!claimed.has(pairKey(p.name, eventId))) continue; // parked (or applied) before: a redelivery
      letters.push(letterOf(p.name, item));
      const position = BigInt(item.record.position);
      if (p.onUnknown === 'park-and-stop' && !stops.has(p.name)) stops.set(p.name, { position, eventId, error: item.unknown!.message });
    }
    const inserted = await insertDeadLetters(em, sql, letters, 'keep');
    // Only the new ones: a redelivery of an unknown type (kept under '*') is not news.
    const fresh = letters.filter((l) => inserted.has(pairKey(l.projection, l.eventId)));
    if (fresh.length === 0) return;
    log.warn(
      { events: fresh.map((l) => ({ eventId: l.eventId, type: l.record.type, version: l.record.version, projection: l.projection })) },
      'events this release cannot read parked as dead letters; a release that reads them retries them',
    );
  }

  async function runBatch(items: Item[], only: ReadonlyArray<SqlProjection>, resuming: ReadonlySet<string>): Promise<ApplyBatchResult> {
    return db.transaction((em) => runBatchIn(em, items, only, resuming));
  }

  async function runBatchIn(em: SqlRunner, items: Item[], only: ReadonlyArray<SqlProjection>, resuming: ReadonlySet<string>): Promise<ApplyBatchResult> {
    const appliedIds = new Set<string>();
    const onlyNames = only.map((p) => p.name);
    await lockProjections(em, sql, onlyNames, 'shared');
    const ids = only.some((p) => p.idempotent) ? items.flatMap((i) => (i.event ? [i.event.id] : [])) : [];
    const { floors, stops, parked } = await readFloorsAndStops(em, sql, onlyNames, only, resuming, ids);
    await parkUnknown(em, items, only, floors, stops);
    const wanted = only.map((p) => {
      const floor = floors.get(p.name) ?? 0n;
      return { p, events: items.filter((i) => handles(p, i) && i.event!.position > floor && !held(stops, p, i.event!.position)).map((i) => i.event!) };
    });
    // An idempotent projection takes every event past its floor, redeliveries included, without inbox rows.
    const claimed = await claim(em, sql, wanted.flatMap(({ p, events }) => (p.idempotent ? [] : events.map((e) => ({ projection: p.name, eventId: e.id })))));
    const counted = only.some((p) => !p.idempotent);
    for (const { p, events } of wanted) {
      const mine = events.filter((e) => (p.idempotent ? !parked.has(pairKey(p.name, e.id)) : claimed.has(pairKey(p.name, e.id))));
      await applyEvents(em, sql, p, live, mine);
      if (!p.idempotent || !counted) for (const e of mine) appliedIds.add(e.id);
    }
    await advance(em, onlyNames, stops, maxPosition(items));
    const result = emptyResult();
    for (const i of items) {
      if (i.unknown) {
        if (i.unknown.reason === 'unknown-type' || only.some((p) => wants(p, i))) result.parked++;
        else result.ignored++; // a known type no projection here handles: nothing to park, whatever its version
      } else if (!only.some((p) => handles(p, i))) result.ignored++;
      else if (appliedIds.has(i.event!.id)) result.applied++;
      else result.duplicates++;
    }
    return result;
  }

  /** One record, one transaction, one savepoint per projection. */
  async function runRecord(item: Item, result: ApplyBatchResult, only: ReadonlyArray<SqlProjection>, resuming: ReadonlySet<string>): Promise<void> {
    const handlers = only.filter((p) => handles(p, item));
    let applied = false;
    const failed: string[] = [];
    let error: unknown;
    await db.transaction(async (em) => {
      await lockProjections(em, sql, only.map((p) => p.name), 'shared');
      const e = item.event!;
      const { floors, stops } = await readFloorsAndStops(em, sql, handlers.map((p) => p.name), only, resuming);
      for (const p of handlers) {
        if (e.position <= (floors.get(p.name) ?? 0n) || held(stops, p, e.position)) continue;
        await em.query('SAVEPOINT projection_apply', []);
        try {
          // The inbox for every projection on this rare path: park() reads it to tell which projections
          // applied the record (an idempotent one's rows are removed by the inbox compaction).
          if ((await claim(em, sql, [{ projection: p.name, eventId: e.id }])).size > 0) {
            await applyEvents(em, sql, p, live, [e]);
            if (!p.idempotent || handlers.every((h) => h.idempotent)) applied = true;
          }
        } catch (err) {
          if (!isApplyFailure(err)) throw err;
          await em.query('ROLLBACK TO SAVEPOINT projection_apply', []);
          failed.push(p.name);
          error = err.cause;
        }
        await em.query('RELEASE SAVEPOINT projection_apply', []);
      }
      await advance(em, only.map((p) => p.name).filter((n) => !failed.includes(n)), stops, BigInt(item.record.position));
    });
    if (failed.length > 0) {
      result.failed.push({ record: item.record, error, projections: failed });
      log.debug({ eventId: item.record.id, type: item.record.type, projections: failed, err: errorMessage(error) }, 'record failed');
    } else if (handlers.length === 0) result.ignored++;
    else if (applied) result.applied++;
    else result.duplicates++;
  }

  async function applyItems(items: Item[], only: ReadonlyArray<SqlProjection>, resuming: ReadonlySet<string> = NONE): Promise<ApplyBatchResult> {
    const result = emptyResult();
    if (items.length === 0) return result;
    if (items.length > 1) {
      try {
        return await runBatch(items, only, resuming);
      } catch (err) {
        if (!isApplyFailure(err)) throw rootError(err);
        log.debug({ records: items.length, err: errorMessage(err) }, 'batch failed in a projection; applying record by record');
      }
    }
    try {
      for (const item of items) {
        if (item.unknown) addResult(result, await runBatch([item], only, resuming));
        else await runRecord(item, result, only, resuming);
      }
    } catch (err) {
      throw rootError(err);
    }
    return result;
  }

  async function applyBatch(records: PublicRecord[]): Promise<ApplyBatchResult> {
    await ensureReady();
    return applyItems(toItems(records, reader), projections);
  }

  async function park(record: PublicRecord, error: unknown, attempts: number): Promise<void> {
    await ensureReady();
    const item = toItem(record, reader);
    const eventId = normalizeId(record.id);
    const handlers = projections.filter((p) => handles(p, item)).map((p) => p.name);
    const err = rootError(error);
    // A placeholder for a body that was not a record may carry no usable position.
    const position = /^\d+$/.test(record.position) ? BigInt(record.position) : 0n;
    await db.transaction(async (em) => {
      await lockProjections(em, sql, names, 'shared');
      let targets: string[] = [NO_PROJECTION];
      if (handlers.length > 0) {
        // Park only for the projections that did not apply it (the others committed in the one-by-one pass).
        const done = await em.query<{ projection: string }>(
          `SELECT projection FROM ${sql.table(INBOX)} WHERE event_id = ? AND projection IN (${handlers.map(() => '?').join(', ')})`,
          [eventId, ...handlers],
        );
        const floors = await readFloors(em, sql, handlers);
        targets = handlers.filter((h) => !done.some((d) => d.projection === h) && position > (floors.get(h) ?? 0n));
        if (targets.length === 0) {
          log.debug({ eventId }, 'park: every projection already applied this record; nothing to park');
          return;
        }
      }
      await insertDeadLetters(
        em,
        sql,
        targets.map((projection) => ({ projection, eventId, position, record, error: errorMessage(err), stack: errorStack(err), attempts })),
        'replace',
      );
      const real = targets.filter((t) => t !== NO_PROJECTION);
      if (real.length > 0) {
        await em.query(
          `INSERT INTO ${sql.table(INBOX)} (projection, event_id) VALUES ${real.map(() => '(?, ?)').join(', ')} ON CONFLICT DO NOTHING`,
          real.flatMap((p) => [p, eventId]),
        );
        await advanceCheckpoints(em, sql, real, position);
      }
      log.warn({ eventId, type: record.type, projections: targets, attempts, err: errorMessage(err) }, 'record parked as a dead letter');
    });
  }

  /** Log events after `after`, up to `head` when given, as items. */
  async function readPage(after: bigint, head: bigint | null): Promise<{ items: Item[]; last: bigint | null; more: boolean }> {
    const page = await store!.readAll({ after, maxCount: pageSize });
    const within = head === null ? page : page.filter((e) => e.position <= head);
    return {
      items: toItems(within.map(toPublicRecord), reader),
      last: within.length > 0 ? within[within.length - 1]!.position : null,
      more: within.length > 0 && within.length === page.length,
    };
  }

  /**
   * Ends a 'park-and-stop' projection's stop once the events it stopped at have been applied (`letters`):
   * it applies what it held back, reading the log from the stop through the same inbox (what it had
   * applied is skipped), and only then marks those dead letters retried, in one transaction that pauses
   * its live application for the tail (as a rebuild's swap does). Until that commit the projection stays
   * stopped, so a crash part way leaves it stopped and the next start does it again (writes are
   * idempotent). Another event it cannot read on the way becomes its new stop.
   */
  async function resume(p: SqlProjection, from: bigint, letters: ReadonlyArray<{ id: string; eventId: string }>): Promise<boolean> {
    if (!store) {
      log.warn({ projection: p.name }, 'cannot resume a stopped projection without the event store; it stays stopped (the projector retries at start)');
      return false;
    }
    const resuming = new Set(letters.map((l) => l.eventId));
    const stoppedAgain = async (em: SqlRunner, after: bigint): Promise<boolean> => {
      const stop = (await stopsOf(em, [p], resuming)).get(p.name);
      return stop !== undefined && stop.position <= after;
    };
    log.info({ projection: p.name, from: from.toString() }, 'stopped projection resuming: applying what it held back');
    let after = from;
    for (let attempt = 1; ; attempt++) {
      // Outside any lock, a page per transaction; failures are parked at once (nothing redelivers these).
      for (;;) {
        const page = await readPage(after, null);
        if (page.last === null) break;
        const result = await applyItems(page.items, [p], resuming);
        for (const f of result.failed) await park(f.record, f.error, 1);
        after = page.last;
        if (await stoppedAgain(db, after)) break;
      }
      try {
        await db.transaction(async (em) => {
          await pauseLiveApplication(em, sql, p.name);
          const head = await store.headPosition();
          while (after < head && !(await stoppedAgain(em, after))) {
            const page = await readPage(after, head);
            if (page.last === null) break;
            const r = await runBatchIn(em, page.items, [p], resuming);
            if (r.failed.length > 0) throw new ProjectionApplyError(p.name, r.failed[0]!.error);
            after = page.last;
            if (!page.more) break;
          }
          await em.query(
            `UPDATE ${sql.table(DEAD_LETTERS)} SET retried_at = ? WHERE id IN (${letters.map(() => '?').join(', ')})`,
            [sql.time(new Date()), ...letters.map((l) => l.id)],
          );
        });
        log.info({ projection: p.name, through: after.toString() }, 'stopped projection resumed');
        return true;
      } catch (err) {
        // An event in the tail failed: the next pass outside the lock parks it, then the tail again.
        if (!isApplyFailure(err) || attempt >= 3) {
          log.error({ projection: p.name, err: errorMessage(rootError(err)) }, 'could not resume the stopped projection; it stays stopped (retried at the next start)');
          return false;
        }
      }
    }
  }

  async function retryDeadLetters(options: RetryOptions = {}): Promise<RetryResult> {
    await ensureReady();
    const reload = options.reload ?? (store ? reloadFromStore(store) : undefined);
    const where = ['retried_at IS NULL'];
    const params: SqlParam[] = [];
    if (options.projection) {
      where.push('projection = ?');
      params.push(options.projection);
    }
    if (options.ids && options.ids.length > 0) {
      where.push(`id IN (${options.ids.map(() => '?').join(', ')})`);
      params.push(...options.ids.map(String));
    }
    if (options.unknownOnly) where.push(UNKNOWN_ERROR_CONDITION);
    const letters = await db.query<{ id: string; projection: string; event_id: string; position: string; record: unknown; error: string }>(
      `SELECT CAST(id AS TEXT) AS id, projection, event_id, CAST(position AS TEXT) AS position, record, error
       FROM ${sql.table(DEAD_LETTERS)} WHERE ${where.join(' AND ')} ORDER BY position, id`,
      params,
    );
    const result: RetryResult = { retried: 0, failed: [] };
    if (letters.length === 0) return result;

    // A 'park-and-stop' projection's unknown letters end its stop: applied here, marked retried by
    // resume() once it has caught up. One still failing holds back that projection's later ones.
    const stopping = (letter: { projection: string; error: string }): SqlProjection | undefined => {
      const p = projections.find((x) => x.name === letter.projection);
      return p?.onUnknown === 'park-and-stop' && unknownReasonOf(letter.error) !== null ? p : undefined;
    };
    const selected = new Set(letters.map((l) => pairKey(l.projection, l.event_id)));
    const heldFrom = new Map<string, bigint>();
    for (const [name, stop] of await stopsOf(db, projections)) {
      if (!selected.has(pairKey(name, stop.eventId))) heldFrom.set(name, stop.position);
    }
    const resumes = new Map<string, { p: SqlProjection; from: bigint; letters: Array<{ id: string; eventId: string }> }>();

    for (const letter of letters) {
      const stopper = stopping(letter);
      const position = BigInt(letter.position);
      const held = stopper ? heldFrom.get(stopper.name) : undefined;
      if (stopper && held !== undefined && held < position) continue; // behind an earlier stop that is not lifted
      const fail = async (err: unknown): Promise<void> => {
        // A stop's letter keeps its reason (so the projection stays stopped) even when the event now
        // reads but fails to apply: park-and-stop applies nothing after an event it has not applied.
        const text = stopper && unknownReasonOf(errorMessage(err)) === null ? `${letter.error.split(' | retried: ')[0]} | retried: ${errorMessage(err)}` : errorMessage(err);
        if (stopper) heldFrom.set(stopper.name, position);
        result.failed.push({ id: letter.id, projection: letter.projection, eventId: letter.event_id, error: text });
        await db.query(
          `UPDATE ${sql.table(DEAD_LETTERS)} SET attempts = attempts + 1, error = ?, stack = ? WHERE id = ?`,
          [text, errorStack(err), letter.id],
        );
      };
      const stored = parsePublicRecord(typeof letter.record === 'string' ? JSON.parse(letter.record) : letter.record);
      if (stored instanceof Error) {
        await fail(stored);
        continue;
      }
      let record = stored;
      try {
        record = (await reload?.(stored)) ?? stored;
      } catch (err) {
        log.warn({ eventId: letter.event_id, err: errorMessage(err) }, 'retry: could not reload the record; using the stored one');
      }
      const item = toItem(record, reader);
      if (item.unknown && unknownReasonOf(letter.error) !== null) {
        // Still unreadable: the letter keeps its reason, so the next release's start retries it again.
        await fail(new Error(item.unknown.message));
        continue;
      }
      const targets =
        letter.projection === NO_PROJECTION
          ? projections.filter((p) => handles(p, item))
          : projections.filter((p) => p.name === letter.projection && handles(p, item));
      if (targets.length === 0) {
        await fail(new Error(`no projection here handles ${record.type} v${record.version}${letter.projection === NO_PROJECTION ? '' : ` for ${letter.projection}`}`));
        continue;
      }
      try {
        await db.transaction(async (em) => {
          await lockProjections(em, sql, targets.map((p) => p.name), 'shared');
          const e = item.event!;
          const floors = await readFloors(em, sql, targets.map((p) => p.name));
          for (const p of targets) {
            if (e.position <= (floors.get(p.name) ?? 0n)) {
              // At or below the floor (compaction or a rebuild went past the parked event): a redelivery
              // there is skipped by position, so it is applied without an inbox row, which nothing would
              // ever compact. The writes are idempotent, so one that a rebuild applied since is harmless.
              await applyEvents(em, sql, p, live, [e]);
              continue;
            }
            // park() marked it done for its projection; take that back so the claim below lets it through.
            if (letter.projection !== NO_PROJECTION) await em.query(`DELETE FROM ${sql.table(INBOX)} WHERE projection = ? AND event_id = ?`, [p.name, e.id]);
            if ((await claim(em, sql, [{ projection: p.name, eventId: e.id }])).size > 0) await applyEvents(em, sql, p, live, [e]);
          }
          if (!stopper) await em.query(`UPDATE ${sql.table(DEAD_LETTERS)} SET retried_at = ? WHERE id = ?`, [sql.time(new Date()), letter.id]);
        });
        if (stopper) {
          const r = resumes.get(stopper.name) ?? { p: stopper, from: position, letters: [] };
          r.letters.push({ id: letter.id, eventId: letter.event_id });
          resumes.set(stopper.name, r);
          continue;
        }
        result.retried++;
        log.info({ eventId: letter.event_id, projection: letter.projection }, 'dead letter re-applied');
      } catch (err) {
        await fail(rootError(err));
      }
    }
    for (const { p, from, letters: done } of resumes.values()) {
      if (await resume(p, from, done)) result.retried += done.length;
      else for (const l of done) result.failed.push({ id: l.id, projection: p.name, eventId: l.eventId, error: 'applied, but the projection could not catch up yet; it stays stopped' });
    }
    return result;
  }

  return {
    projections,
    applyBatch,
    park,
    retryDeadLetters,
    retryUnknown: () => retryDeadLetters({ unknownOnly: true }),
    async checkpoints() {
      await ensureReady();
      return readCheckpoints(db, sql);
    },
  };
}
