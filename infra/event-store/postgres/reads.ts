/**
 * Reading the PostgreSQL event store (store.ts): a stream, a page of the log (readAll's settle wait
 * at the tail), a live subscription's page, the head. Every read sees only what no older open
 * transaction can still change (docs/architecture.md, "Ordering"); the statements are in sql.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { ReadAllOptions, ReadStreamOptions, RecordedEvent } from '../../../commands/ports/event-store.js';
import { pageRowToRecorded, toRecorded, type EventRow, type PageRow, type Statements } from './sql.js';
import type { SubscriptionPage } from './subscription.js';

export const DEFAULT_PAGE = 1000;
/** How long readAll waits at the tail for already-committed events held back by an older transaction. */
const READ_ALL_SETTLE_MS = 1000;

export async function readStream(pool: pg.Pool, sql: Statements, streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
  if (options.maxCount !== undefined && options.maxCount < 1) return [];
  const limit = options.maxCount ?? null; // LIMIT NULL: no limit; aggregates load whole streams
  const res =
    options.direction === 'backwards'
      ? await pool.query<EventRow>({
          name: 'es_read_backwards',
          text: sql.readBackwards,
          values: [streamId, Math.min(options.fromRevision ?? 0x7fffffff, 0x7fffffff), limit],
        })
      : await pool.query<EventRow>({
          name: 'es_read_forwards',
          text: sql.readForwards,
          values: [streamId, Math.max(options.fromRevision ?? 0, 0), limit],
        });
  return res.rows.map(toRecorded);
}

/**
 * A page of visible events. At the tail (a short page) it first waits, up to READ_ALL_SETTLE_MS, for
 * events that had committed when it was called but were still held back by an older transaction, so
 * a caller reads its own committed appends even while some other transaction in the cluster is
 * briefly open. Subscriptions read without this wait; they have their own.
 */
export async function readAll(pool: pg.Pool, sql: Statements, options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
  const after = options.after ?? 0n;
  const maxCount = options.maxCount ?? DEFAULT_PAGE;
  const page = await readPage(pool, sql, after, maxCount);
  if (page.length >= maxCount) return page;
  const { tail, bound } = await readTail(pool, sql);
  if (tail < bound || tail <= after) return page;
  const deadline = Date.now() + READ_ALL_SETTLE_MS;
  for (let ms = 2; Date.now() < deadline; ms = Math.min(ms * 2, 50)) {
    await sleep(ms);
    const res = await pool.query<{ bound: string }>({ name: 'es_bound', text: sql.bound });
    if (BigInt(res.rows[0]!.bound) > tail) break;
  }
  return readPage(pool, sql, after, maxCount);
}

async function readPage(pool: pg.Pool, sql: Statements, after: bigint, maxCount: number): Promise<RecordedEvent[]> {
  if (maxCount < 1) return [];
  const res = await pool.query<EventRow>({ name: 'es_read_all', text: sql.readAll, values: [after.toString(), maxCount] });
  return res.rows.map(toRecorded);
}

async function readTail(pool: pg.Pool, sql: Statements): Promise<{ tail: bigint; bound: bigint }> {
  const res = await pool.query<{ tail: string; bound: string }>({ name: 'es_tail', text: sql.tail });
  const row = res.rows[0]!;
  return { tail: BigInt(row.tail), bound: BigInt(row.bound) };
}

/**
 * A subscription's page (as readAll's, without the settle wait) and, from the same snapshot, whether
 * committed events past `after` are waiting behind an older open transaction: one statement.
 */
export async function readSubscriptionPage(pool: pg.Pool, sql: Statements, after: bigint, maxCount: number): Promise<SubscriptionPage> {
  const res = await pool.query<PageRow & { held_back: boolean | null }>({
    name: 'es_subscribe_page',
    text: sql.subscribePage,
    values: [after.toString(), maxCount],
  });
  const flag = res.rows[res.rows.length - 1];
  if (!flag || flag.position !== null || flag.held_back === null) throw new Error('event store: subscription page without its held-back row');
  const events: RecordedEvent[] = [];
  for (let i = 0; i < res.rows.length - 1; i++) events.push(pageRowToRecorded(res.rows[i]!));
  return { events, heldBack: flag.held_back };
}

export async function readHeadPosition(pool: pg.Pool, sql: Statements): Promise<bigint> {
  const res = await pool.query<{ position: string }>({ name: 'es_head', text: sql.head });
  return BigInt(res.rows[0]?.position ?? '0');
}
