/**
 * Inbox compaction: keeps projection_inbox from growing with the log.
 *
 * The inbox holds a row per (projection, event) applied or parked, so that a redelivery is recognized.
 * At or below a projection's floor (its checkpoint's rebuilt_through) a redelivery is recognized by
 * position instead, and those rows are no longer needed. Compaction raises the floor over the longest
 * prefix of the log after it in which every event the projection handles is marked done in its inbox,
 * and deletes those rows, a page at a time. It stops
 * - at an event the projection handles but has not applied yet (not delivered, in flight, or delivered
 *   out of order after a requeue): the inbox must still catch its redelivery;
 * - at a record of a type this release cannot read that is not parked yet (not delivered, or in
 *   flight): once the projector has parked it (projection '*') it no longer holds anyone back.
 * An event this release cannot read counts as handled once parked: an unknown version is marked done in
 * the inbox of each projection that handles its type, like any parked event, and an unknown type has its
 * '*' dead letter. The dead letter keeps the record, and a retry below the floor applies it anyway.
 * Each page's check, floor update and deletion run in one transaction that pauses live application of
 * the projection (as a rebuild's swap does), so no live batch reads the old floor and then misses a
 * deleted row. The floor only moves from the value the page was read against: a rebuild in between wins.
 */
import type { EventStore } from '../../commands/ports/event-store.js';
import { toPublicRecord } from '../ports/public-record.js';
import type { Logger } from 'pino';
import type { SqlDialect } from '../ports/sql.js';
import type { SqlProjection } from '../projection.js';
import { CHECKPOINTS, DEAD_LETTERS, INBOX, NO_PROJECTION, normalizeId, pauseLiveApplication, readFloors, toItem, wants, type Item } from './apply.js';
import type { EventReader } from './event-reader.js';
import type { ReadModelDb, SqlRunner } from '../ports/read-model.js';

export interface InboxCompactionOptions {
  db: ReadModelDb;
  store: EventStore;
  projections: ReadonlyArray<SqlProjection>;
  logger: Logger;
  /** Log events per page (one transaction each). Default 1,000. */
  pageSize?: number;
  /** Pages per projection per call, so one call stays short however far behind compaction is. Default 100. */
  maxPages?: number;
  /** The upcasters records are read with; default this release's (as the projector's). */
  reader?: EventReader;
}

export interface InboxCompactionResult {
  projection: string;
  /** The floor after this call (decimal position). */
  floor: string;
  /** Inbox rows deleted. */
  removed: number;
  /** Why it stopped short of the log's end, if it did. */
  stoppedAt: { position: string; reason: 'not-applied' | 'unreadable' | 'page-limit' | 'floor-moved' | 'no-checkpoint' } | null;
}

type PageOutcome =
  | { kind: 'advanced'; through: bigint; removed: number; whole: boolean }
  | { kind: 'blocked'; at: bigint }
  | { kind: 'floor-moved'; floor: bigint }
  | { kind: 'no-checkpoint' };

/**
 * Compacts every projection's inbox. The projections go through the log in step, from the lowest
 * floor, so each page of the log is read once for all of them.
 */
export async function compactInbox(opts: InboxCompactionOptions): Promise<InboxCompactionResult[]> {
  const { db, store } = opts;
  const pageSize = opts.pageSize ?? 1000;
  const maxPages = opts.maxPages ?? 100;
  const sql = db.sql;
  // An idempotent projection has no inbox rows, so none tells what it applied: its floor stays put.
  // It has a few from the one-by-one path (for park()): gone once no parked dead letter needs them.
  const projections = opts.projections.filter((p) => !p.idempotent);
  const idempotent = opts.projections.filter((p) => p.idempotent).map((p) => p.name);
  if (idempotent.length > 0) {
    await db.query(
      `DELETE FROM ${sql.table(INBOX)} WHERE projection IN (${idempotent.map(() => '?').join(', ')}) AND NOT EXISTS (SELECT 1 FROM ${sql.table(DEAD_LETTERS)} d
         WHERE d.projection = ${sql.table(INBOX)}.projection AND d.event_id = CAST(${sql.table(INBOX)}.event_id AS TEXT) AND d.retried_at IS NULL)`,
      idempotent,
    );
  }
  const floors = await readFloors(db, sql, projections.map((p) => p.name));
  const runs = projections.map((p) => ({
    p,
    floor: floors.get(p.name) ?? 0n,
    removed: 0,
    stoppedAt: null as InboxCompactionResult['stoppedAt'],
    done: false,
  }));
  const stop = (run: (typeof runs)[number], stoppedAt: InboxCompactionResult['stoppedAt']): void => {
    run.stoppedAt = stoppedAt;
    run.done = true;
  };
  for (let n = 0; n < maxPages; n++) {
    const active = runs.filter((r) => !r.done);
    if (active.length === 0) break;
    const from = active.reduce((min, r) => (r.floor < min ? r.floor : min), active[0]!.floor);
    const events = await store.readAll({ after: from, maxCount: pageSize });
    if (events.length === 0) {
      for (const r of active) stop(r, null);
      break;
    }
    const items = events.map((e) => toItem(toPublicRecord(e), opts.reader));
    const parked = await parkedUnknownTypes(db, sql, items);
    const unreadable = items.findIndex((i) => i.unknown?.reason === 'unknown-type' && !parked.has(normalizeId(i.record.id)));
    const readable = unreadable === -1 ? items : items.slice(0, unreadable);
    for (const run of active) {
      const mine = readable.filter((i) => BigInt(i.record.position) > run.floor);
      if (mine.length === 0) {
        // Ahead of this page: wait for a later one, unless an unreadable record is next for it.
        if (unreadable !== -1 && BigInt(events[unreadable]!.position) > run.floor) stop(run, { position: String(events[unreadable]!.position), reason: 'unreadable' });
        continue;
      }
      const outcome = await db.transaction((em) => compactPage(em, sql, run.p, run.floor, mine));
      // Without a checkpoint row there is no floor to raise (the projector creates it on start).
      if (outcome.kind === 'no-checkpoint') {
        stop(run, { position: run.floor.toString(), reason: 'no-checkpoint' });
      } else if (outcome.kind === 'floor-moved') {
        run.floor = outcome.floor;
        stop(run, { position: run.floor.toString(), reason: 'floor-moved' });
      } else if (outcome.kind === 'blocked') {
        stop(run, { position: outcome.at.toString(), reason: 'not-applied' });
      } else {
        run.floor = outcome.through;
        run.removed += outcome.removed;
        if (!outcome.whole) {
          const next = mine.find((i) => BigInt(i.record.position) > run.floor);
          stop(run, { position: String(next?.record.position ?? run.floor), reason: 'not-applied' });
        } else if (unreadable !== -1) {
          stop(run, { position: String(events[unreadable]!.position), reason: 'unreadable' });
        }
      }
    }
  }
  for (const r of runs) if (!r.done) stop(r, { position: r.floor.toString(), reason: 'page-limit' });
  return runs.map((r) => ({ projection: r.p.name, floor: r.floor.toString(), removed: r.removed, stoppedAt: r.stoppedAt }));
}

/** One page, in one transaction with live application of the projection paused. */
async function compactPage(em: SqlRunner, sql: SqlDialect, p: SqlProjection, from: bigint, items: readonly Item[]): Promise<PageOutcome> {
  await pauseLiveApplication(em, sql, p.name);
  const current = (await readFloors(em, sql, [p.name])).get(p.name);
  if (current === undefined) return { kind: 'no-checkpoint' };
  if (current !== from) return { kind: 'floor-moved', floor: current };
  const ids = items.filter((i) => wants(p, i)).map((i) => normalizeId(i.record.id));
  const done = new Set<string>();
  if (ids.length > 0) {
    const rows = await em.query<{ event_id: string }>(
      `SELECT event_id FROM ${sql.table(INBOX)} WHERE projection = ? AND event_id IN (${ids.map(() => '?').join(', ')})`,
      [p.name, ...ids],
    );
    for (const r of rows) done.add(normalizeId(r.event_id));
  }
  let through: bigint | null = null;
  const compacted: string[] = [];
  for (const i of items) {
    if (wants(p, i)) {
      const id = normalizeId(i.record.id);
      if (!done.has(id)) break;
      compacted.push(id);
    }
    through = BigInt(i.record.position);
  }
  if (through === null) return { kind: 'blocked', at: BigInt(items[0]!.record.position) };
  await em.query(`UPDATE ${sql.table(CHECKPOINTS)} SET rebuilt_through = ${sql.position()} WHERE projection = ?`, [through.toString(), p.name]);
  if (compacted.length > 0) {
    await em.query(`DELETE FROM ${sql.table(INBOX)} WHERE projection = ? AND event_id IN (${compacted.map(() => '?').join(', ')})`, [p.name, ...compacted]);
  }
  return { kind: 'advanced', through, removed: compacted.length, whole: through === BigInt(items[items.length - 1]!.record.position) };
}

/** Of the page's records of an unknown type, those the projector has parked (under '*'). */
async function parkedUnknownTypes(em: SqlRunner, sql: SqlDialect, items: readonly Item[]): Promise<Set<string>> {
  const ids = items.filter((i) => i.unknown?.reason === 'unknown-type').map((i) => normalizeId(i.record.id));
  if (ids.length === 0) return new Set();
  const rows = await em.query<{ event_id: string }>(
    `SELECT event_id FROM ${sql.table(DEAD_LETTERS)} WHERE projection = ? AND event_id IN (${ids.map(() => '?').join(', ')})`,
    [NO_PROJECTION, ...ids],
  );
  return new Set(rows.map((r) => normalizeId(r.event_id)));
}

export interface InboxCompactionSchedule {
  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Compacts every `intervalMs` (default a minute) in the projector process. Several projectors may
 * run it at once: pages serialize on the projection's lock and a floor another one moved ends a run.
 * A failed run is logged and the next one tries again; it never stops the projector.
 */
export function scheduleInboxCompaction(opts: InboxCompactionOptions & { intervalMs?: number }): InboxCompactionSchedule {
  const log = opts.logger.child({ component: 'inbox-compaction' });
  let running: Promise<void> | null = null;
  const run = (): void => {
    if (running) return;
    running = compactInbox(opts)
      .then((results) => {
        const removed = results.reduce((n, r) => n + r.removed, 0);
        if (removed > 0) log.info({ removed, projections: results.map((r) => ({ projection: r.projection, floor: r.floor, removed: r.removed })) }, 'inbox compacted');
      })
      .catch((err: unknown) => {
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'inbox compaction failed; trying again later');
      })
      .finally(() => {
        running = null;
      });
  };
  const timer = setInterval(run, opts.intervalMs ?? 60_000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
