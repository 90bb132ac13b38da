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
 *
 * The parts: batch-apply.ts (a batch, and record by record when a projection fails in it) and
 * dead-letter-retry.ts (re-applying parked events, resuming a stopped projection); this file wires
 * them and holds park() and the checkpoints.
 */
import type { EventStore } from '../../commands/ports/event-store.js';
import type { PublicRecord } from '../ports/public-record.js';
import type { Logger } from 'pino';
import type { SqlProjection } from '../projection.js';
import {
  INBOX,
  NO_PROJECTION,
  ProjectionApplyError,
  advanceCheckpoints,
  ensureCheckpoints,
  handles,
  liveTarget,
  lockProjections,
  normalizeId,
  readCheckpoints,
  readFloors,
  rootError,
  toItem,
  toItems,
  type CheckpointInfo,
} from './apply.js';
import { createBatchApplier, errorMessage, errorStack, type ApplyBatchResult, type ProjectorContext } from './batch-apply.js';
import { insertDeadLetters } from './dead-letters.js';
import { createDeadLetterRetry, type RetryOptions, type RetryResult } from './dead-letter-retry.js';
import { CURRENT_READER, type EventReader } from './event-reader.js';
import type { ReadModelDb } from '../ports/read-model.js';

export { errorMessage, type ApplyBatchResult, type FailedRecord } from './batch-apply.js';
export { reloadFromStore, type RetryOptions, type RetryResult } from './dead-letter-retry.js';

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

  const ctx: ProjectorContext = { db, sql, live, reader, log, isApplyFailure };
  const applier = createBatchApplier(ctx);

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


  async function applyBatch(records: PublicRecord[]): Promise<ApplyBatchResult> {
    await ensureReady();
    return applier.applyItems(toItems(records, reader), projections);
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

  const retry = createDeadLetterRetry(ctx, { projections, store, pageSize, applier, park });
  async function retryDeadLetters(options: RetryOptions = {}): Promise<RetryResult> {
    await ensureReady();
    return retry(options);
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
