/**
 * Feeds a projector straight from the event store: the in-process bus of the embedded default (no
 * broker), and a way to run the SQL projections next to any store.
 *
 * It subscribes from the lowest checkpoint of the projector's projections (the others skip what they
 * already have through the inbox), groups events into batches of up to `batchSize` or whatever came
 * within `lingerMs`, and hands them to applyBatch in order. It never dies silently: a failed batch
 * is retried with capped backoff until it goes through; a record that fails `maxAttempts` times is
 * parked as a dead letter; a failed subscription is re-opened from the last applied position.
 */
import type { EventStore, Subscription } from '../../commands/ports/event-store.js';
import { toPublicRecord, type PublicRecord } from '../ports/public-record.js';
import type { Logger } from 'pino';
import { errorMessage, type SqlProjector } from './sql-projector.js';
import { setTimeout as sleep } from 'node:timers/promises';

export interface StoreFeedOptions {
  store: EventStore;
  projector: SqlProjector;
  logger: Logger;
  batchSize?: number;
  lingerMs?: number;
  /** Attempts before a failing record is parked. */
  maxAttempts?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
}

export type StoreFeedState = 'idle' | 'running' | 'retrying' | 'stopped';

export interface StoreFeedStatus {
  state: StoreFeedState;
  /** Last log position processed (applied, skipped as duplicate, ignored or parked), decimal. */
  position: string;
  lastError: string | null;
  lastAppliedAt: string | null;
  applied: number;
  parked: number;
}

export interface StoreFeed {
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): StoreFeedStatus;
  /** Resolves once the feed has processed the log up to `position` (rejects after timeoutMs). */
  waitFor(position: bigint, timeoutMs?: number): Promise<void>;
}


export function createStoreFeed(opts: StoreFeedOptions): StoreFeed {
  const { store, projector } = opts;
  const log = opts.logger.child({ component: 'store-feed' });
  const batchSize = opts.batchSize ?? 500;
  const lingerMs = opts.lingerMs ?? 10;
  const maxAttempts = opts.maxAttempts ?? 5;
  const retryMinMs = opts.retryMinMs ?? 100;
  const retryMaxMs = opts.retryMaxMs ?? 5_000;
  const backoff = (attempt: number): number => Math.min(retryMaxMs, retryMinMs * 2 ** Math.min(attempt, 16));

  let state: StoreFeedState = 'idle';
  let stopping = false;
  let position: bigint | null = null;
  let sub: Subscription | null = null;
  let loop: Promise<void> | null = null;
  let lastError: string | null = null;
  let lastAppliedAt: Date | null = null;
  let applied = 0;
  let parked = 0;
  let buffer: PublicRecord[] = [];
  let timer: NodeJS.Timeout | null = null;
  let chain: Promise<void> = Promise.resolve();
  const waiters = new Set<{ position: bigint; resolve: () => void }>();

  const notify = (): void => {
    for (const w of waiters) if (position !== null && position >= w.position) { waiters.delete(w); w.resolve(); }
  };

  /** Applies one batch until it is through (or the feed stops). Never rejects. */
  async function processBatch(batch: PublicRecord[]): Promise<void> {
    const attempts = new Map<string, number>();
    let pending = batch;
    for (let attempt = 0; pending.length > 0 && !stopping; ) {
      try {
        const result = await projector.applyBatch(pending);
        applied += result.applied;
        const retry: PublicRecord[] = [];
        for (const f of result.failed) {
          const n = (attempts.get(f.record.id) ?? 0) + 1;
          attempts.set(f.record.id, n);
          lastError = errorMessage(f.error);
          if (n >= maxAttempts) {
            log.error({ eventId: f.record.id, type: f.record.type, projections: f.projections, attempts: n, err: lastError }, 'record failed too often; parking it');
            await projector.park(f.record, f.error, n);
            parked++;
          } else {
            log.warn({ eventId: f.record.id, type: f.record.type, projections: f.projections, attempt: n, err: lastError }, 'record failed; retrying');
            retry.push(f.record);
          }
        }
        pending = retry;
        if (pending.length > 0) await sleep(backoff(attempt++));
        if (state === 'retrying') state = 'running';
      } catch (err) {
        // The database (or the runtime) failed as a whole: hold the batch and try again.
        lastError = errorMessage(err);
        state = 'retrying';
        const delay = backoff(attempt++);
        log.error({ err: lastError, records: pending.length, retryInMs: delay }, 'batch failed; retrying');
        await sleep(delay);
      }
    }
    if (stopping && pending.length > 0) return; // not processed: the checkpoint brings it back on the next start
    const last = batch[batch.length - 1];
    if (last) {
      const p = BigInt(last.position);
      if (position === null || p > position) position = p;
      lastAppliedAt = new Date();
      notify();
    }
  }

  /** Queues what is buffered behind the batches already in flight (batches run one at a time, in order). */
  function flush(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (buffer.length === 0) return chain;
    const batch = buffer;
    buffer = [];
    chain = chain.then(() => processBatch(batch));
    return chain;
  }

  async function consume(s: Subscription): Promise<void> {
    for await (const e of s) {
      if (stopping) break;
      buffer.push(toPublicRecord(e));
      if (buffer.length >= batchSize) await flush(); // waiting here is the backpressure on the subscription
      else timer ??= setTimeout(() => void flush(), lingerMs);
    }
  }

  async function run(): Promise<void> {
    for (let attempt = 0; !stopping; ) {
      try {
        if (position === null) {
          const cps = [...(await projector.checkpoints()).values()].filter((c) => projector.projections.some((p) => p.name === c.projection));
          position = cps.reduce((m, c) => (c.position < m ? c.position : m), cps[0]?.position ?? 0n);
          log.info({ from: position.toString() }, 'store feed starting');
          notify();
        }
        await chain; // anything still in flight from a previous subscription lands first
        sub = store.subscribeToAll({ after: position });
        state = 'running';
        await consume(sub);
        attempt = 0;
        if (!stopping) throw new Error('subscription ended');
      } catch (err) {
        if (stopping) break;
        lastError = errorMessage(err);
        state = 'retrying';
        const delay = backoff(attempt++);
        log.error({ err: lastError, retryInMs: delay }, 'store subscription failed; re-subscribing');
        await sub?.stop().catch(() => undefined);
        buffer = [];
        if (timer) clearTimeout(timer);
        timer = null;
        await sleep(delay);
      }
    }
  }

  return {
    async start() {
      if (loop) return;
      stopping = false;
      loop = run();
    },
    async stop() {
      stopping = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await sub?.stop().catch(() => undefined);
      await loop;
      await chain;
      state = 'stopped';
      loop = null;
    },
    status() {
      return {
        state,
        position: (position ?? 0n).toString(),
        lastError,
        lastAppliedAt: lastAppliedAt?.toISOString() ?? null,
        applied,
        parked,
      };
    },
    waitFor(target, timeoutMs = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const w = {
          position: target,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        };
        const t = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`store feed did not reach position ${target} within ${timeoutMs} ms (at ${position ?? 'start'})`));
        }, timeoutMs);
        waiters.add(w);
        notify();
      });
    },
  };
}
