/**
 * Re-applies parked events (`chat projections dead-letters retry`, and the unknown ones when a new
 * release's projector starts), and lets a 'park-and-stop' projection whose stop is retried catch up
 * from the log before its stop is lifted. createSqlProjector (sql-projector.ts) wires it.
 */
import type { EventStore } from '../../commands/ports/event-store.js';
import { parsePublicRecord, toPublicRecord, type PublicRecord } from '../ports/public-record.js';
import type { SqlRunner } from '../ports/read-model.js';
import type { SqlParam } from '../ports/sql.js';
import type { SqlProjection } from '../projection.js';
import {
  DEAD_LETTERS,
  INBOX,
  NO_PROJECTION,
  ProjectionApplyError,
  applyEvents,
  claim,
  handles,
  lockProjections,
  pairKey,
  pauseLiveApplication,
  readFloors,
  rootError,
  toItem,
  toItems,
  type Item,
} from './apply.js';
import { errorMessage, errorStack, type BatchApplier, type ProjectorContext } from './batch-apply.js';
import { readStops, type StoppedAt } from './dead-letters.js';
import { UNKNOWN_ERROR_CONDITION, unknownReasonOf } from './event-reader.js';

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
  /** Ids asked for (`ids`) that name no parked letter awaiting a retry, within the other filters. */
  unmatched?: string[];
}

/** The event as the store holds it now (so a fixed upcaster applies on retry); null when it is gone. */
export const reloadFromStore = (store: EventStore) => async (record: PublicRecord): Promise<PublicRecord | null> => {
  if (record.streamId.startsWith('$')) return null;
  const [e] = await store.readStream(record.streamId, { fromRevision: record.revision, maxCount: 1 });
  return e && e.id.toLowerCase() === record.id.toLowerCase() ? toPublicRecord(e) : null;
};

export interface DeadLetterRetryDeps {
  projections: ReadonlyArray<SqlProjection>;
  /** The log: re-reads retried events and lets a stopped projection catch up. */
  store: EventStore | undefined;
  /** Log events per page when a stopped projection catches up. */
  pageSize: number;
  applier: BatchApplier;
  park(record: PublicRecord, error: unknown, attempts: number): Promise<void>;
}

/** retryDeadLetters of the projector: the caller has made sure its checkpoint rows exist. */
export function createDeadLetterRetry(ctx: ProjectorContext, deps: DeadLetterRetryDeps): (options?: RetryOptions) => Promise<RetryResult> {
  const { db, sql, live, reader, log, isApplyFailure } = ctx;
  const { projections, store, pageSize, park } = deps;
  const { applyItems, runBatchIn } = deps.applier;
  /** `resuming`: event ids of stops being resolved by a resume, which no longer hold anything back. */
  const stopsOf = (em: SqlRunner, only: ReadonlyArray<SqlProjection>, resuming: ReadonlySet<string> = new Set()): Promise<Map<string, StoppedAt>> =>
    readStops(em, sql, only, resuming);

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
    if (options.ids && options.ids.length > 0) {
      // Said, not skipped silently: an operator who typed an id wants to know it did nothing.
      const found = new Set(letters.map((l) => l.id));
      const canonical = (id: number | bigint | string): string => (/^\d+$/.test(String(id)) ? BigInt(id).toString() : String(id));
      const unmatched = [...new Set(options.ids.map(canonical))].filter((id) => !found.has(id));
      if (unmatched.length > 0) result.unmatched = unmatched;
    }
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

  return retryDeadLetters;
}
