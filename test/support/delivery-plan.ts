// Convergence properties of the projections replay one history in any order, with duplicates, in any
// batch sizes and over one or two projectors at once, the way the broker may deliver it; this is the
// shared part of how they shuffle, batch and deliver.
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { isTransientError } from '../../commands/ports/transient-error.js';
import type { PublicRecord } from '../../projections/ports/public-record.js';
import type { SqlProjector } from '../../projections/runtime/sql-projector.js';

export interface DeliveryPlan {
  /** A permutation of the record indices. */
  order: number[];
  /** [record index, where to insert it again]. */
  duplicates: Array<[number, number]>;
  /** Batch sizes, used round-robin. */
  sizes: number[];
  /** How many projectors apply the batches at once. */
  lanes: number;
}

/** Plans for delivering n records, in batches of 1 to maxBatch. */
export function deliveryPlans(n: number, maxBatch: number): fc.Arbitrary<DeliveryPlan> {
  const indices = Array.from({ length: n }, (_, i) => i);
  return fc.record({
    order: fc.shuffledSubarray(indices, { minLength: n, maxLength: n }),
    duplicates: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(2 * n)), { maxLength: n }),
    sizes: fc.array(fc.integer({ min: 1, max: maxBatch }), { minLength: 1, maxLength: 10 }),
    lanes: fc.constantFrom(1, 2),
  });
}

/** Attempts of one batch before a transient error is let through. */
const MAX_ATTEMPTS = 20;

/**
 * Applies like the broker consumer: retries a batch on a transient error (e.g. a deadlock victim),
 * after a jittered pause that grows with each attempt, so that two projectors retrying against each
 * other do not collide again at once (a redelivery, too, comes back later, not in the same instant).
 */
export async function deliver(projector: SqlProjector, batch: PublicRecord[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await projector.applyBatch(batch);
      if (r.failed.length > 0) throw new Error(`unexpected failures: ${r.failed.map((f) => String(f.error)).join('; ')}`);
      return;
    } catch (err) {
      if (!isTransientError(err) || attempt >= MAX_ATTEMPTS) throw err;
      await sleep((10 + Math.random() * 40) * attempt);
    }
  }
}

/** The plan's batches, each lane's share applied by its own projector, the lanes at once. */
export async function deliverPlanned(records: PublicRecord[], plan: DeliveryPlan, newProjector: () => SqlProjector): Promise<void> {
  const sequence = plan.order.map((i) => records[i]!);
  for (const [i, at] of plan.duplicates) sequence.splice(at % (sequence.length + 1), 0, records[i]!);
  const batches: PublicRecord[][] = [];
  for (let k = 0, s = 0; k < sequence.length; s++) {
    const size = plan.sizes[s % plan.sizes.length]!;
    batches.push(sequence.slice(k, k + size));
    k += size;
  }
  // Separate projectors stand in for separate consumer processes.
  const projectors = Array.from({ length: plan.lanes }, newProjector);
  await Promise.all(projectors.map(async (p, lane) => {
    for (let b = lane; b < batches.length; b += plan.lanes) await deliver(p, batches[b]!);
  }));
}
