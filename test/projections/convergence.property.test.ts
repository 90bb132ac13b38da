// Property: whatever the delivery order, duplication and batching (even two consumers at once), the
// read models end up equal to in-order application, row for row (PostgreSQL).
import fc from 'fast-check';
import t from 'tap';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { deliver, deliverPlanned, deliveryPlans } from '../support/delivery-plan.js';
import { dumpAll, historyRecords, pgReadModels, silentLogger, truncateAll } from './support.js';

t.test('any order, duplicates and batch sizes converge to in-order application', async (t) => {
  const rm = await pgReadModels('conv');
  t.teardown(() => rm.close());
  const records = await historyRecords();
  const n = records.length;

  await deliver(createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger }), records);
  const expected = await dumpAll(rm.orm);
  t.equal(expected['activity_log']!.length, n);

  let runs = 0;
  await fc.assert(
    fc.asyncProperty(deliveryPlans(n, 15), async (plan) => {
      runs++;
      await truncateAll(rm.orm);
      await deliverPlanned(records, plan, () => createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger }));
      const actual = await dumpAll(rm.orm);
      // An idempotent projection's inbox rows come from the one-by-one path only (compaction removes them).
      const idempotent = SQL_PROJECTIONS.filter((p) => p.idempotent).map((p) => `"projection":"${p.name}"`);
      actual['projection_inbox'] = actual['projection_inbox']!.filter((row) => !idempotent.some((k) => row.includes(k)));
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
