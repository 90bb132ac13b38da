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
 */
import { isTransientError } from '../../infra/broker/transient-error.js';
import type { PublicRecord } from '../../infra/event-store/public-record.js';
import { parsePublicRecord } from '../../infra/event-store/public-record.js';
import type { Logger } from '../../infra/logger.js';
import { emOf, sqlOf, sqlQuery, type ReadModelOrm } from '../../infra/read-models/orm.js';
import type { Columns, SqlParam } from '../../infra/read-models/sql.js';
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
  readCheckpoints,
  readFloors,
  rootError,
  toItem,
  toItems,
  type CheckpointInfo,
  type Item,
} from './apply.js';

export interface FailedRecord {
  record: PublicRecord;
  error: unknown;
  /** The projections that could not apply it (the others did). */
  projections: string[];
}

export interface ApplyBatchResult {
  /** Records applied by at least one projection. */
  applied: number;
  /** Records every handling projection had already applied (redeliveries). */
  duplicates: number;
  /** Records no projection handles (unknown or uninteresting types): acknowledged. */
  ignored: number;
  failed: FailedRecord[];
}

export interface RetryOptions {
  projection?: string;
  ids?: ReadonlyArray<number | bigint | string>;
  /** Fetches the record again (e.g. from the event store, so a fixed upcaster applies); null keeps the stored one. */
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
  /** Re-applies parked events; a success marks the dead letter retried, a failure updates its error. */
  retryDeadLetters(options?: RetryOptions): Promise<RetryResult>;
  /** Checkpoint of every projection (rows are created at position 0 on first use). */
  checkpoints(): Promise<Map<string, CheckpointInfo>>;
}

export interface SqlProjectorOptions {
  orm: ReadModelOrm;
  projections: ReadonlyArray<SqlProjection>;
  logger: Logger;
}

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

export const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const errorStack = (err: unknown): string | null => (err instanceof Error && typeof err.stack === 'string' ? err.stack : null);

/** A failure to isolate record by record (not a transient one: those are thrown so the whole batch is retried). */
const isApplyFailure = (err: unknown): err is ProjectionApplyError => err instanceof ProjectionApplyError && !isTransientError(err.cause);

const maxPosition = (items: ReadonlyArray<Item>): bigint => items.reduce((m, i) => (BigInt(i.record.position) > m ? BigInt(i.record.position) : m), 0n);

export function createSqlProjector(opts: SqlProjectorOptions): SqlProjector {
  const { orm, projections } = opts;
  const log = opts.logger.child({ component: 'sql-projector' });
  const sql = sqlOf(orm);
  const live = liveTarget(sql);
  const names = projections.map((p) => p.name);
  if (new Set(names).size !== names.length) throw new Error('projection names must be unique');

  let ready: Promise<void> | null = null;
  const ensureReady = (): Promise<void> => {
    ready ??= (async () => {
      const em = emOf(orm);
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

  async function runBatch(items: Item[]): Promise<ApplyBatchResult> {
    const appliedIds = new Set<string>();
    await emOf(orm).transactional(async (em) => {
      await lockProjections(em, sql, names, 'shared');
      const floors = await readFloors(em, sql, names);
      const wanted = projections.map((p) => {
        const floor = floors.get(p.name) ?? 0n;
        return { p, events: items.filter((i) => handles(p, i) && i.event!.position > floor).map((i) => i.event!) };
      });
      const claimed = await claim(em, sql, wanted.flatMap(({ p, events }) => events.map((e) => ({ projection: p.name, eventId: e.id }))));
      for (const { p, events } of wanted) {
        const mine = events.filter((e) => claimed.has(pairKey(p.name, e.id)));
        await applyEvents(em, sql, p, live, mine);
        for (const e of mine) appliedIds.add(e.id);
      }
      await advanceCheckpoints(em, sql, names, maxPosition(items));
    });
    const result: ApplyBatchResult = { applied: 0, duplicates: 0, ignored: 0, failed: [] };
    for (const i of items) {
      if (!projections.some((p) => handles(p, i))) result.ignored++;
      else if (appliedIds.has(i.event!.id)) result.applied++;
      else result.duplicates++;
    }
    return result;
  }

  /** One record, one transaction, one savepoint per projection. */
  async function runRecord(item: Item, result: ApplyBatchResult): Promise<void> {
    const handlers = projections.filter((p) => handles(p, item));
    let applied = false;
    const failed: string[] = [];
    let error: unknown;
    await emOf(orm).transactional(async (em) => {
      await lockProjections(em, sql, names, 'shared');
      const floors = await readFloors(em, sql, handlers.map((p) => p.name));
      for (const p of handlers) {
        const e = item.event!;
        if (e.position <= (floors.get(p.name) ?? 0n)) continue;
        await sqlQuery(em, 'SAVEPOINT projection_apply', []);
        try {
          if ((await claim(em, sql, [{ projection: p.name, eventId: e.id }])).size > 0) {
            await applyEvents(em, sql, p, live, [e]);
            applied = true;
          }
        } catch (err) {
          if (!isApplyFailure(err)) throw err;
          await sqlQuery(em, 'ROLLBACK TO SAVEPOINT projection_apply', []);
          failed.push(p.name);
          error = err.cause;
        }
        await sqlQuery(em, 'RELEASE SAVEPOINT projection_apply', []);
      }
      await advanceCheckpoints(em, sql, names.filter((n) => !failed.includes(n)), BigInt(item.record.position));
    });
    if (failed.length > 0) {
      result.failed.push({ record: item.record, error, projections: failed });
      log.debug({ eventId: item.record.id, type: item.record.type, projections: failed, err: errorMessage(error) }, 'record failed');
    } else if (handlers.length === 0) result.ignored++;
    else if (applied) result.applied++;
    else result.duplicates++;
  }

  async function applyBatch(records: PublicRecord[]): Promise<ApplyBatchResult> {
    await ensureReady();
    const items = toItems(records);
    const result: ApplyBatchResult = { applied: 0, duplicates: 0, ignored: 0, failed: [] };
    if (items.length === 0) return result;
    if (items.length > 1) {
      try {
        return await runBatch(items);
      } catch (err) {
        if (!isApplyFailure(err)) throw rootError(err);
        log.debug({ records: items.length, err: errorMessage(err) }, 'batch failed in a projection; applying record by record');
      }
    }
    try {
      for (const item of items) await runRecord(item, result);
    } catch (err) {
      throw rootError(err);
    }
    return result;
  }

  async function park(record: PublicRecord, error: unknown, attempts: number): Promise<void> {
    await ensureReady();
    const item = toItem(record);
    const eventId = normalizeId(record.id);
    const handlers = projections.filter((p) => handles(p, item)).map((p) => p.name);
    const err = rootError(error);
    // A placeholder for a body that was not a record may carry no usable position.
    const position = /^\d+$/.test(record.position) ? BigInt(record.position) : 0n;
    await emOf(orm).transactional(async (em) => {
      await lockProjections(em, sql, names, 'shared');
      let targets: string[] = [NO_PROJECTION];
      if (handlers.length > 0) {
        // Park only for the projections that did not apply it (the others committed in the one-by-one pass).
        const done = await sqlQuery<{ projection: string }>(
          em,
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
      const now = new Date();
      await sqlQuery(
        em,
        `INSERT INTO ${sql.table(DEAD_LETTERS)} (${DEAD_LETTER_COLUMNS.map(([c]) => c).join(', ')})
         ${sql.rowsFrom(DEAD_LETTER_COLUMNS)}
         ON CONFLICT (projection, event_id) DO UPDATE SET position = excluded.position, record = excluded.record,
           error = excluded.error, stack = excluded.stack, attempts = excluded.attempts, parked_at = excluded.parked_at, retried_at = NULL`,
        [
          sql.encodeRows(
            DEAD_LETTER_COLUMNS,
            targets.map((projection) => ({
              projection, event_id: eventId, position: position.toString(), record,
              error: errorMessage(err), stack: errorStack(err), attempts, parked_at: now,
            })),
          ),
        ],
      );
      const real = targets.filter((t) => t !== NO_PROJECTION);
      if (real.length > 0) {
        await sqlQuery(
          em,
          `INSERT INTO ${sql.table(INBOX)} (projection, event_id) VALUES ${real.map(() => '(?, ?)').join(', ')} ON CONFLICT DO NOTHING`,
          real.flatMap((p) => [p, eventId]),
        );
        await advanceCheckpoints(em, sql, real, position);
      }
      log.warn({ eventId, type: record.type, projections: targets, attempts, err: errorMessage(err) }, 'record parked as a dead letter');
    });
  }

  async function retryDeadLetters(options: RetryOptions = {}): Promise<RetryResult> {
    await ensureReady();
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
    const letters = await sqlQuery<{ id: string; projection: string; event_id: string; record: unknown }>(
      emOf(orm),
      `SELECT CAST(id AS TEXT) AS id, projection, event_id, record FROM ${sql.table(DEAD_LETTERS)} WHERE ${where.join(' AND ')} ORDER BY position, id`,
      params,
    );
    const result: RetryResult = { retried: 0, failed: [] };
    for (const letter of letters) {
      const fail = async (err: unknown): Promise<void> => {
        result.failed.push({ id: letter.id, projection: letter.projection, eventId: letter.event_id, error: errorMessage(err) });
        await sqlQuery(
          emOf(orm),
          `UPDATE ${sql.table(DEAD_LETTERS)} SET attempts = attempts + 1, error = ?, stack = ? WHERE id = ?`,
          [errorMessage(err), errorStack(err), letter.id],
        );
      };
      const stored = parsePublicRecord(typeof letter.record === 'string' ? JSON.parse(letter.record) : letter.record);
      if (stored instanceof Error) {
        await fail(stored);
        continue;
      }
      let record = stored;
      try {
        record = (await options.reload?.(stored)) ?? stored;
      } catch (err) {
        log.warn({ eventId: letter.event_id, err: errorMessage(err) }, 'retry: could not reload the record; using the stored one');
      }
      const item = toItem(record);
      const targets =
        letter.projection === NO_PROJECTION
          ? projections.filter((p) => handles(p, item))
          : projections.filter((p) => p.name === letter.projection && handles(p, item));
      if (targets.length === 0) {
        await fail(new Error(`no projection here handles ${record.type} v${record.version}${letter.projection === NO_PROJECTION ? '' : ` for ${letter.projection}`}`));
        continue;
      }
      try {
        await emOf(orm).transactional(async (em) => {
          await lockProjections(em, sql, targets.map((p) => p.name), 'shared');
          const e = item.event!;
          const floors = await readFloors(em, sql, targets.map((p) => p.name));
          for (const p of targets) {
            if (letter.projection === NO_PROJECTION) {
              // Never marked done for any projection: one that has applied it since (or rebuilt past it) skips it.
              if (e.position <= (floors.get(p.name) ?? 0n)) continue;
            } else {
              // park() marked it done for its projection; take that back so the claim below lets it through.
              // A rebuild since may have left it below its floor (parked events stay parked): applied anyway.
              await sqlQuery(em, `DELETE FROM ${sql.table(INBOX)} WHERE projection = ? AND event_id = ?`, [p.name, e.id]);
            }
            if ((await claim(em, sql, [{ projection: p.name, eventId: e.id }])).size > 0) await applyEvents(em, sql, p, live, [e]);
          }
          await sqlQuery(em, `UPDATE ${sql.table(DEAD_LETTERS)} SET retried_at = ? WHERE id = ?`, [sql.time(new Date()), letter.id]);
        });
        result.retried++;
        log.info({ eventId: letter.event_id, projection: letter.projection }, 'dead letter re-applied');
      } catch (err) {
        await fail(rootError(err));
      }
    }
    return result;
  }

  return {
    projections,
    applyBatch,
    park,
    retryDeadLetters,
    async checkpoints() {
      await ensureReady();
      return readCheckpoints(emOf(orm), sql);
    },
  };
}
