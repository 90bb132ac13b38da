// Property: whatever the delivery order, duplication and batching (even two consumers at once), the
// read models end up equal to in-order application, row for row (PostgreSQL).
import fc from 'fast-check';
import t from 'tap';
import { isTransientError } from '../../infra/broker/transient-error.js';
import type { PublicRecord } from '../../infra/event-store/public-record.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { createSqlProjector, type SqlProjector } from '../../projections/runtime/sql-projector.js';
import { dumpAll, historyRecords, pgReadModels, silentLogger, truncateAll } from './support.js';

/** Applies like the broker consumer: retries a batch on a transient error (e.g. a deadlock victim). */
async function deliver(projector: SqlProjector, batch: PublicRecord[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await projector.applyBatch(batch);
      if (r.failed.length > 0) throw new Error(`unexpected failures: ${r.failed.map((f) => String(f.error)).join('; ')}`);
      return;
    } catch (err) {
      if (!isTransientError(err) || attempt > 5) throw err;
    }
  }
}

t.test('any order, duplicates and batch sizes converge to in-order application', async (t) => {
  const rm = await pgReadModels('conv');
  t.teardown(() => rm.close());
  const records = await historyRecords();
  const n = records.length;

  await deliver(createSqlProjector({ orm: rm.orm, projections: SQL_PROJECTIONS, logger: silentLogger }), records);
  const expected = await dumpAll(rm.orm);
  t.equal(expected['activity_log']!.length, n);

  const indices = Array.from({ length: n }, (_, i) => i);
  const delivery = fc.record({
    order: fc.shuffledSubarray(indices, { minLength: n, maxLength: n }),
    duplicates: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(2 * n)), { maxLength: n }),
    sizes: fc.array(fc.integer({ min: 1, max: 15 }), { minLength: 1, maxLength: 10 }),
    lanes: fc.constantFrom(1, 2),
  });

  let runs = 0;
  await fc.assert(
    fc.asyncProperty(delivery, async ({ order, duplicates, sizes, lanes }) => {
      runs++;
      const sequence = order.map((i) => records[i]!);
      for (const [i, at] of duplicates) sequence.splice(at % (sequence.length + 1), 0, records[i]!);
      const batches: PublicRecord[][] = [];
      for (let k = 0, s = 0; k < sequence.length; s++) {
        const size = sizes[s % sizes.length]!;
        batches.push(sequence.slice(k, k + size));
        k += size;
      }
      await truncateAll(rm.orm);
      // Separate projectors stand in for separate consumer processes.
      const projectors = Array.from({ length: lanes }, () => createSqlProjector({ orm: rm.orm, projections: SQL_PROJECTIONS, logger: silentLogger }));
      await Promise.all(
        projectors.map(async (p, lane) => {
          for (let b = lane; b < batches.length; b += lanes) await deliver(p, batches[b]!);
        }),
      );
      const actual = await dumpAll(rm.orm);
      for (const table of Object.keys(expected)) {
        if (JSON.stringify(actual[table]) !== JSON.stringify(expected[table])) {
          t.same(actual[table], expected[table], `table ${table} differs`);
          return false;
        }
      }
      return true;
    }),
    { numRuns: 20 },
  );
  t.equal(runs >= 20, true, 'ran the property');
});
