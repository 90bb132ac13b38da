/**
 * Applies items to the SQL projections: a batch in ONE transaction (read-model writes, inbox rows,
 * checkpoints), and when a projection fails in it, the same records again one per transaction with a
 * savepoint per projection, so good records and good projections commit and the failing ones are
 * reported. Records this release cannot read are parked in the batch's own transaction.
 * createSqlProjector (sql-projector.ts) wires it; the dead-letter retry reuses it to resume a stop.
 */
import type { Logger } from 'pino';
import type { PublicRecord } from '../ports/public-record.js';
import type { ReadModelDb, SqlRunner } from '../ports/read-model.js';
import type { SqlDialect } from '../ports/sql.js';
import type { SqlProjection } from '../projection.js';
import {
  NO_PROJECTION,
  ProjectionApplyError,
  advanceCheckpoints,
  applyEvents,
  claim,
  handles,
  lockProjections,
  normalizeId,
  pairKey,
  rootError,
  wants,
  type Item,
  type Target,
} from './apply.js';
import { insertDeadLetters, readFloorsAndStops, type DeadLetterInsert, type StoppedAt } from './dead-letters.js';
import type { EventReader } from './event-reader.js';

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

/** What the parts of one projector share: its database, dialect, live target, reader and logger. */
export interface ProjectorContext {
  db: ReadModelDb;
  sql: SqlDialect;
  live: Target;
  reader: EventReader;
  log: Logger;
  /** A failure to isolate record by record (not a transient one: those are thrown so the whole batch is retried). */
  isApplyFailure(err: unknown): err is ProjectionApplyError;
}

export interface BatchApplier {
  /** Applies `items` to `only`; `resuming`: event ids of stops being resolved by a resume, which no longer hold anything back. */
  applyItems(items: Item[], only: ReadonlyArray<SqlProjection>, resuming?: ReadonlySet<string>): Promise<ApplyBatchResult>;
  /** One batch in the caller's transaction; a projection's failure is thrown. */
  runBatchIn(em: SqlRunner, items: Item[], only: ReadonlyArray<SqlProjection>, resuming: ReadonlySet<string>): Promise<ApplyBatchResult>;
}

export const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
export const errorStack = (err: unknown): string | null => (err instanceof Error && typeof err.stack === 'string' ? err.stack : null);

const maxPosition = (items: ReadonlyArray<Item>): bigint => items.reduce((m, i) => (BigInt(i.record.position) > m ? BigInt(i.record.position) : m), 0n);

const emptyResult = (): ApplyBatchResult => ({ applied: 0, duplicates: 0, ignored: 0, parked: 0, failed: [] });

function addResult(into: ApplyBatchResult, r: ApplyBatchResult): void {
  into.applied += r.applied;
  into.duplicates += r.duplicates;
  into.ignored += r.ignored;
  into.parked += r.parked;
  into.failed.push(...r.failed);
}

const NONE: ReadonlySet<string> = new Set();

/** Events a stopped projection holds back: everything after the event it stopped at. */
export const held = (stops: ReadonlyMap<string, StoppedAt>, p: SqlProjection, position: bigint): boolean => {
  const stop = stops.get(p.name);
  return stop !== undefined && position > stop.position;
};

export function createBatchApplier(ctx: ProjectorContext): BatchApplier {
  const { db, sql, live, log, isApplyFailure } = ctx;

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

  return { applyItems, runBatchIn };
}
