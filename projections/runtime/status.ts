/**
 * Health of the SQL projections, telling a lagging projection (behind, but moving) from a stalled
 * one (behind, and nothing has moved for a while) — the check users of Marten and Emmett ask for.
 *
 * - lagEvents: events in the log after the checkpoint, counted by paging readAll and capped
 *   (`lagEventsCapped`). Position differences mean nothing on PostgreSQL, whose positions pack a
 *   transaction id, so events are counted rather than subtracted.
 * - lagSeconds: age of the oldest event not yet processed (0 when caught up).
 * - verdict: 'ok' when caught up with the head; 'stalled' when behind, the checkpoint has not moved
 *   for `stallAfterMs` and the oldest pending event is older than that too (so a projection that was
 *   idle and has just been handed a new event is not called stalled); otherwise 'lagging'.
 */
import type { EventStore } from '../../commands/ports/event-store.js';
import type { SqlProjection } from '../projection.js';
import { DEAD_LETTERS, readCheckpoints } from './apply.js';
import { readStops, type StoppedAt } from './dead-letters.js';
import { UNKNOWN_ERROR_CONDITION, unknownReasonOf } from './event-reader.js';
import type { ReadModelDb } from '../ports/read-model.js';

export type ProjectionVerdict = 'ok' | 'lagging' | 'stalled';

export interface ProjectionStatus {
  projection: string;
  /** Version of the code, and of the tables (null before the projection first ran). */
  version: number;
  storedVersion: number | null;
  /** The tables were built by another version of the projection: rebuild it. */
  needsRebuild: boolean;
  checkpoint: string;
  head: string;
  lagEvents: number;
  lagEventsCapped: boolean;
  lagSeconds: number;
  /** Dead letters not yet retried. */
  deadLetters: number;
  /** Of those, events parked because this release could not read their type or version. */
  unknownEvents: number;
  /**
   * A 'park-and-stop' projection held at an event of an unknown version (until a release that reads it
   * retries it); null when not stopped. Its checkpoint stays there, so it also shows as behind.
   */
  stoppedAt: { position: string; eventId: string; reason: 'unknown-type' | 'unknown-version' } | null;
  checkpointUpdatedAt: string | null;
  verdict: ProjectionVerdict;
}

export interface StatusOptions {
  db: ReadModelDb;
  store: EventStore;
  projections: ReadonlyArray<SqlProjection>;
  /** Default 30 s. */
  stallAfterMs?: number;
  /** Most events counted per projection; default 10,000. */
  lagCountCap?: number;
  now?: () => Date;
}

interface Lag {
  count: number;
  capped: boolean;
  oldest: Date | null;
}

export async function projectionStatus(opts: StatusOptions): Promise<ProjectionStatus[]> {
  const { db, store, projections } = opts;
  const sql = db.sql;
  const stallAfterMs = opts.stallAfterMs ?? 30_000;
  const cap = opts.lagCountCap ?? 10_000;
  const now = (opts.now ?? (() => new Date()))();
  const em = db;
  const head = await store.headPosition();
  const checkpoints = await readCheckpoints(em, sql);
  const dead = new Map(
    (await em.query<{ projection: string; n: number | string }>(
      `SELECT projection, COUNT(*) AS n FROM ${sql.table(DEAD_LETTERS)} WHERE retried_at IS NULL GROUP BY projection`,
      [],
    )).map((r) => [r.projection, Number(r.n)]),
  );

  const unknown = new Map(
    (await em.query<{ projection: string; n: number | string }>(
      `SELECT projection, COUNT(*) AS n FROM ${sql.table(DEAD_LETTERS)} WHERE retried_at IS NULL AND ${UNKNOWN_ERROR_CONDITION} GROUP BY projection`,
      [],
    )).map((r) => [r.projection, Number(r.n)]),
  );
  const stops = await readStops(em, sql, projections);

  // Projections usually share a checkpoint: count each distinct one once.
  const lags = new Map<bigint, Promise<Lag>>();
  const lagAfter = async (from: bigint): Promise<Lag> => {
    let count = 0;
    let oldest: Date | null = null;
    let after = from;
    while (count < cap) {
      const page = await store.readAll({ after, maxCount: Math.min(1000, cap - count) });
      const within = page.filter((e) => e.position <= head);
      if (within.length === 0) break;
      oldest ??= within[0]!.createdAt;
      count += within.length;
      after = within[within.length - 1]!.position;
      if (within.length < page.length) break;
    }
    return { count, capped: count >= cap, oldest };
  };

  const out: ProjectionStatus[] = [];
  for (const p of projections) {
    const cp = checkpoints.get(p.name);
    const position = cp?.position ?? 0n;
    let lag: Lag = { count: 0, capped: false, oldest: null };
    if (position < head) {
      let pending = lags.get(position);
      if (!pending) lags.set(position, (pending = lagAfter(position)));
      lag = await pending;
    }
    const behind = lag.count > 0;
    const lagSeconds = lag.oldest ? Math.max(0, (now.getTime() - lag.oldest.getTime()) / 1000) : 0;
    const quietFor = cp?.updatedAt ? now.getTime() - cp.updatedAt.getTime() : Number.POSITIVE_INFINITY;
    const verdict: ProjectionVerdict = !behind ? 'ok' : quietFor > stallAfterMs && lagSeconds * 1000 > stallAfterMs ? 'stalled' : 'lagging';
    out.push({
      projection: p.name,
      version: p.version,
      storedVersion: cp?.version ?? null,
      needsRebuild: cp !== undefined && cp.version !== p.version,
      checkpoint: position.toString(),
      head: head.toString(),
      lagEvents: lag.count,
      lagEventsCapped: lag.capped,
      lagSeconds: Math.round(lagSeconds * 10) / 10,
      deadLetters: dead.get(p.name) ?? 0,
      unknownEvents: unknown.get(p.name) ?? 0,
      stoppedAt: stopAt(stops.get(p.name)),
      checkpointUpdatedAt: cp?.updatedAt?.toISOString() ?? null,
      verdict,
    });
  }
  return out;
}

function stopAt(stop: StoppedAt | undefined): ProjectionStatus['stoppedAt'] {
  return stop ? { position: stop.position.toString(), eventId: stop.eventId, reason: unknownReasonOf(stop.error) ?? 'unknown-version' } : null;
}
