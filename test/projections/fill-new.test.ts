// A projection new to a log that already holds events, behind RabbitMQ (projections/runtime/fill-new.ts):
// found before the consumer starts (no checkpoint row while the log holds events) and filled from the
// log by a rebuild, to exactly what applying the whole log gives. A team adding a projection found it
// otherwise left half empty, with status saying `ok` once live events moved its checkpoint.
import t from 'tap';
import type { EventStore } from '../../commands/ports/event-store.js';
import { emOf, sqlOf } from '../../infra/read-models/orm.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { CHECKPOINTS, tablesOf } from '../../projections/runtime/apply.js';
import { fillFromLog, unfilledProjections } from '../../projections/runtime/fill-new.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { projectionStatus } from '../../projections/runtime/status.js';
import { createStoreFeed } from '../../projections/runtime/store-feed.js';
import { settledHead } from '../support/tracked-store.js';
import { dumpAll, onBothStores, silentLogger, writeHistory, type TestReadModels } from './support.js';

async function check(t: Parameters<Parameters<typeof onBothStores>[3]>[0], store: EventStore, rm: TestReadModels): Promise<void> {
  const db = rm.orm.db;
  t.same(await unfilledProjections({ db, store, projections: SQL_PROJECTIONS }), [], 'an empty log: nothing to fill, live events will');

  await writeHistory(store);
  const projector = createSqlProjector({ db, projections: SQL_PROJECTIONS, logger: silentLogger });
  const feed = createStoreFeed({ store, projector, logger: silentLogger, batchSize: 50, lingerMs: 5 });
  await feed.start();
  await feed.waitFor(await settledHead(store));
  await feed.stop();
  const whole = await dumpAll(rm.orm);
  t.same(await unfilledProjections({ db, store, projections: SQL_PROJECTIONS }), [], 'every projection applied: none is new');

  // As if this release had just added one: its tables empty, no checkpoint row.
  const added = SQL_PROJECTIONS.find((p) => p.name === 'messages-per-user-per-day')!;
  const sql = sqlOf(rm.orm);
  for (const table of tablesOf(added)) await emOf(rm.orm).execute(`DELETE FROM ${sql.table(table)}`);
  await emOf(rm.orm).execute(`DELETE FROM ${sql.table(CHECKPOINTS)} WHERE projection = ?`, [added.name]);

  const fresh = await unfilledProjections({ db, store, projections: SQL_PROJECTIONS });
  t.same(fresh.map((p) => p.name), [added.name], 'found: the one without a checkpoint');
  await fillFromLog(fresh, { db, store, projections: SQL_PROJECTIONS, logger: silentLogger, batchSize: 7 });
  const filled = await dumpAll(rm.orm);
  for (const table of tablesOf(added)) t.same(filled[table], whole[table], `${table}: as applying the whole log gives`);
  const status = (await projectionStatus({ db, store, projections: SQL_PROJECTIONS })).find((s) => s.projection === added.name)!;
  t.match(status, { verdict: 'ok', needsRebuild: false, lagEvents: 0 }, 'caught up, at its version');
  t.same(await unfilledProjections({ db, store, projections: SQL_PROJECTIONS }), [], 'and no longer new');
}

onBothStores(t, 'a projection new to the log is filled from it', { store: 'fnes', readModels: 'fn' }, check);
