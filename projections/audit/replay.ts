/**
 * Replays the event log into a set of tables through the projections' own apply code, as a rebuild
 * does (projections/runtime/rebuild.ts), but for every projection at once and with a position per
 * projection: `chat audit verify` replays into scratch tables up to the head, then brings each
 * projection up to the live checkpoint it is compared against. No inbox or checkpoint rows are
 * written: the replay reads the log once, in order.
 *
 * Unlike a rebuild, a replay never stops on an event a projection cannot apply: it records the
 * failure and goes on (the live runtime parks such an event, so the replay leaves it out as well);
 * the comparison then shows whether live and replay agree about it.
 */
import type { EventStore, RecordedEvent } from '../../commands/ports/event-store.js';
import { toPublicRecord } from '../ports/public-record.js';
import type { ProjectionEvent, SqlProjection } from '../projection.js';
import { ProjectionApplyError, applyEvents, toItem, type Target } from '../runtime/apply.js';
import { errorMessage } from '../runtime/sql-projector.js';
import type { ReadModelDb, SqlRunner } from '../ports/read-model.js';

export interface ReplayFailure {
  projection: string;
  eventId: string;
  position: string;
  type: string;
  error: string;
}

export interface ReplayProgress {
  /** Log events read so far. */
  events: number;
  /** Position of the first event read (null before any) and of the last. */
  first: bigint | null;
  position: bigint;
}

export interface LogReplayOptions {
  db: ReadModelDb;
  store: EventStore;
  projections: ReadonlyArray<SqlProjection>;
  /** Where apply writes (a scratch schema, an attached SQLite file, or the live tables). */
  target: Target;
  /** Events per page and per transaction; default 5,000. */
  batchSize?: number;
  onProgress?: (progress: Readonly<ReplayProgress>) => void;
}

export interface LogReplay {
  /** Applies to each named projection the events after its current position, up to the position given. */
  advance(targets: ReadonlyMap<string, bigint>): Promise<void>;
  /** The position a projection has been replayed through (0n before any). */
  positionOf(name: string): bigint;
  readonly progress: Readonly<ReplayProgress>;
  /** Events applied, summed over projections. */
  readonly applied: number;
  readonly failures: ReadonlyArray<ReplayFailure>;
}

export function createLogReplay(opts: LogReplayOptions): LogReplay {
  const { db, store, projections, target } = opts;
  const sql = db.sql;
  const batchSize = opts.batchSize ?? 5_000;
  const positions = new Map(projections.map((p) => [p.name, 0n]));
  const progress: ReplayProgress = { events: 0, first: null, position: 0n };
  const failures: ReplayFailure[] = [];
  let applied = 0;

  /** One projection's share of a page: in bulk, or, when that fails, event by event, recording what fails. */
  const applyTo = async (em: SqlRunner, p: SqlProjection, evs: ProjectionEvent[]): Promise<void> => {
    if (evs.length === 0) return;
    await em.query('SAVEPOINT replay_page');
    try {
      await applyEvents(em, sql, p, target, evs);
      await em.query('RELEASE SAVEPOINT replay_page');
      applied += evs.length;
      return;
    } catch (err) {
      if (!(err instanceof ProjectionApplyError)) throw err;
      await em.query('ROLLBACK TO SAVEPOINT replay_page');
      await em.query('RELEASE SAVEPOINT replay_page');
    }
    for (const e of evs) {
      await em.query('SAVEPOINT replay_event');
      try {
        await applyEvents(em, sql, p, target, [e]);
        applied++;
      } catch (err) {
        if (!(err instanceof ProjectionApplyError)) throw err;
        await em.query('ROLLBACK TO SAVEPOINT replay_event');
        failures.push({ projection: p.name, eventId: e.id, position: e.position.toString(), type: e.event.type, error: errorMessage(err.cause) });
      }
      await em.query('RELEASE SAVEPOINT replay_event');
    }
  };

  async function advance(targets: ReadonlyMap<string, bigint>): Promise<void> {
    const moving = projections.filter((p) => (targets.get(p.name) ?? 0n) > positions.get(p.name)!);
    if (moving.length === 0) return;
    const from = moving.reduce((m, p) => (positions.get(p.name)! < m ? positions.get(p.name)! : m), positions.get(moving[0]!.name)!);
    const through = moving.reduce((m, p) => (targets.get(p.name)! > m ? targets.get(p.name)! : m), 0n);
    const handled = new Map(moving.map((p) => [p.name, new Set<string>(p.handles)]));
    const read = (after: bigint): Promise<RecordedEvent[]> => {
      const page = store.readAll({ after, maxCount: batchSize });
      page.catch(() => undefined); // awaited below; this only keeps an early exit from leaving it unhandled
      return page;
    };
    let next: Promise<RecordedEvent[]> | null = read(from);
    while (next) {
      const page = (await next).filter((e) => e.position <= through);
      next = null;
      if (page.length === 0) break;
      const last = page[page.length - 1]!.position;
      // The next page is read while this one is applied.
      if (last < through) next = read(last);
      const evs = page.map((e) => toItem(toPublicRecord(e)).event);
      await db.transaction(async (em) => {
        for (const p of moving) {
          const lo = positions.get(p.name)!;
          const hi = targets.get(p.name)!;
          const types = handled.get(p.name)!;
          await applyTo(em, p, evs.filter((e): e is ProjectionEvent => e !== null && e.position > lo && e.position <= hi && types.has(e.event.type)));
        }
      });
      for (const e of page) if (e.position > progress.position) progress.events++;
      progress.first ??= page[0]!.position;
      if (last > progress.position) progress.position = last;
      opts.onProgress?.(progress);
    }
    for (const p of moving) positions.set(p.name, targets.get(p.name)!);
  }

  return {
    advance,
    positionOf: (name) => positions.get(name) ?? 0n,
    get progress() {
      return progress;
    },
    get applied() {
      return applied;
    },
    get failures() {
      return failures;
    },
  };
}
