// Shared by the group-commit tests (postgres-group-commit*.test.ts): a schema per test with the stores
// opened on it, the warnings they log, and checks of what landed.
import { randomUUID } from 'node:crypto';
import type { Test } from 'tap';
import type { AppendResult, EventData, ExpectedRevision, RecordedEvent } from '../../commands/ports/event-store.js';
import { PostgresEventStore, type PostgresEventStoreOptions } from '../../infra/event-store/postgres.js';
import { createTestSchema, type TestSchema } from '../support/pg.js';

export const ev = (type: string, data: unknown = {}): EventData => ({ id: randomUUID(), type, data });
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Positions are (transaction id << 16) | index: events of one transaction share this. */
export const txOf = (position: bigint): bigint => position >> 16n;

export interface Warning {
  msg: string | undefined;
  code?: string;
  err?: string;
  appends?: number;
}

export interface Fixture {
  ts: TestSchema;
  warnings: Warning[];
  open(opts?: Partial<PostgresEventStoreOptions>): Promise<PostgresEventStore>;
}

/** A schema of its own; every store opened on it is closed, and the schema dropped, in teardown. */
export async function fixture(t: Test, label: string): Promise<Fixture> {
  const ts = await createTestSchema(label);
  const stores: PostgresEventStore[] = [];
  const warnings: Warning[] = [];
  t.teardown(async () => {
    for (const s of stores) await s.close();
    await ts.drop();
  });
  return {
    ts,
    warnings,
    async open(opts = {}) {
      const store = await PostgresEventStore.open({
        connectionString: ts.url,
        schema: ts.schema,
        poolSize: 6,
        logger: { warn: (obj, msg) => warnings.push({ ...(obj as Omit<Warning, 'msg'>), msg }) },
        ...opts,
      });
      stores.push(store);
      return store;
    },
  };
}


/** Index of the first position that does not grow, or -1. */
export function firstNonIncreasing(events: readonly RecordedEvent[]): number {
  for (let i = 1; i < events.length; i++) if (events[i]!.position <= events[i - 1]!.position) return i;
  return -1;
}

export const contiguous = (events: readonly RecordedEvent[]): boolean => events.every((e, i) => e.revision === i);

export function fulfilled(r: PromiseSettledResult<AppendResult>): AppendResult {
  if (r.status === 'rejected') throw new Error(`expected the append to succeed, it failed: ${String(r.reason)}`);
  return r.value;
}

/**
 * Fires the appends in one tick, with appendBatchesInFlight: 1 behind them: the first goes alone, the
 * others (distinct streams) queue up meanwhile and are written as one batch.
 */
export function fire(store: PostgresEventStore, appends: ReadonlyArray<{ stream: string; events: EventData[]; expected: ExpectedRevision }>) {
  return Promise.allSettled(appends.map((a) => store.append(a.stream, a.events, a.expected)));
}
