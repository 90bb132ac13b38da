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

  await deliver(createSqlProjector({ orm: rm.orm, projections: SQL_PROJECTIONS, logger: silentLogger }), records);
  const expected = await dumpAll(rm.orm);
  t.equal(expected['activity_log']!.length, n);

  let runs = 0;
  await fc.assert(
    fc.asyncProperty(deliveryPlans(n, 15), async (plan) => {
      runs++;
      await truncateAll(rm.orm);
      await deliverPlanned(records, plan, () => createSqlProjector({ orm: rm.orm, projections: SQL_PROJECTIONS, logger: silentLogger }));
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
