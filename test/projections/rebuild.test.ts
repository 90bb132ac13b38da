// A blue/green rebuild of every projection equals the live read model (row by row, ignoring
// surrogate ids), keeps index names, swaps the inbox and checkpoint, and loses nothing appended
// while it runs with live application going on (PostgreSQL; SQLite with the embedded store).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { sendMessage } from '../../commands/send-message.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { emOf, sqlOf } from '../../infra/read-models/orm.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { tablesOf } from '../../projections/runtime/apply.js';
import { rebuildProjection, type RebuildProgress } from '../../projections/runtime/rebuild.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { createStoreFeed } from '../../projections/runtime/store-feed.js';
import { settledHead } from '../support/tracked-store.js';
import {
  depsWithClock, dumpAll, pgReadModels, postgresStoreAndReadModels, readAllRecords, silentLogger, sqliteReadModels, writeHistory, type TestReadModels,
} from './support.js';

interface Env {
  store: EventStore;
  rm: TestReadModels;
  /** Fresh read models of the same dialect, for a reference built by in-order application. */
  fresh(): Promise<TestReadModels>;
}

/** Tables and indexes with their definitions (PostgreSQL: as pg_indexes prints them, schema left out). */
async function indexNames(rm: TestReadModels): Promise<string[]> {
  const sql = sqlOf(rm.orm);
  const rows = sql.name === 'postgresql'
    ? await emOf(rm.orm).execute(
      `SELECT indexname || ': ' || replace(indexdef, schemaname || '.', '') AS name FROM pg_indexes WHERE schemaname = ?
       UNION ALL SELECT conrelid::regclass::text || ': ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = to_regnamespace(?)`,
      [rm.where, rm.where], 'all')
    : await emOf(rm.orm).execute(`SELECT name || ': ' || coalesce(sql, '') AS name FROM sqlite_master WHERE type IN ('index', 'table')`, [], 'all');
  return (rows as Array<{ name: string }>).map((r) => r.name.replace(rm.where, 'S')).sort();
}

async function rebuildSuite(t: Test, env: Env): Promise<void> {
  const { store, rm } = env;
  const { users, chats } = await writeHistory(store);
  const projector = createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger });
  const feed = createStoreFeed({ store, projector, logger: silentLogger, batchSize: 7, lingerMs: 5 });
  await feed.start();
  t.teardown(() => feed.stop());
  await feed.waitFor(await settledHead(store));
  const live = await dumpAll(rm.orm);
  const indexes = await indexNames(rm);

  for (const p of SQL_PROJECTIONS) {
    const progress: RebuildProgress[] = [];
    const result = await rebuildProjection({
      db: rm.orm.db, store, projections: SQL_PROJECTIONS, name: p.name, logger: silentLogger, batchSize: 10, onProgress: (x) => progress.push(x),
    });
    const rebuilt = await dumpAll(rm.orm);
    for (const table of tablesOf(p)) {
      t.same(rebuilt[table], live[table], `${p.name}: ${table} equals the live model after the rebuild`);
    }
    const head = await store.headPosition();
    t.equal(result.position, head, `${p.name}: rebuilt up to the head`);
    const cp = (await dumpAll(rm.orm, ['projection_checkpoints']))['projection_checkpoints']!.map((l) => JSON.parse(l) as Record<string, unknown>);
    t.match(cp.find((c) => c['projection'] === p.name), { position: head.toString(), rebuilt_through: head.toString(), version: p.version });
    t.notOk(rebuilt['projection_inbox']!.some((l) => l.includes(`"projection":"${p.name}"`)), `${p.name}: inbox rows replaced by the floor`);
    const redelivery = await projector.applyBatch(await readAllRecords(store));
    t.same([redelivery.applied, redelivery.failed.length], [0, 0], `${p.name}: a redelivery of the whole log is all duplicates`);
    t.same(await dumpAll(rm.orm, tablesOf(p)), Object.fromEntries(tablesOf(p).map((x) => [x, live[x]])), 'and changes nothing');
    t.ok(result.events > 0 && result.eventsPerSecond > 0, `${p.name}: ${result.events} events, ${result.eventsPerSecond}/s`);
    t.equal(progress.at(-1)?.phase, 'done');
    t.ok(progress.filter((x) => x.phase === 'replay').length >= 2, 'progress reported per page');
  }
  t.same(await indexNames(rm), indexes, 'tables, indexes and constraints unchanged by the swaps');

  await t.test('a rebuild while live application runs and events keep coming loses nothing', async (t) => {
    const deps = depsWithClock(store, Date.parse('2026-03-01T00:00:00Z'));
    const [a, b] = users as [string, string];
    let sending = true;
    const sender = (async () => {
      for (let i = 0; sending || i < 10; i++) {
        await sendMessage(deps, { senderId: i % 2 ? a : b, chatId: chats[0]!, body: `during rebuild ${i}`, clientMessageId: `rb${i}` });
        await new Promise((r) => setTimeout(r, 3));
      }
    })();
    for (const name of ['messages', 'chats', 'activity-log']) {
      await rebuildProjection({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, name, logger: silentLogger, batchSize: 5 });
    }
    sending = false;
    await sender;
    await feed.waitFor(await settledHead(store));
    const reference = await env.fresh();
    t.teardown(() => reference.close());
    await createSqlProjector({ db: reference.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger }).applyBatch(await readAllRecords(store));
    const expected = await dumpAll(reference.orm);
    const actual = await dumpAll(rm.orm);
    for (const table of ['users', 'chats', 'messages', 'activity_log']) t.same(actual[table], expected[table], `${table} complete`);
    const redelivery = await projector.applyBatch(await readAllRecords(store));
    t.same([redelivery.applied, redelivery.failed.length], [0, 0], 'a redelivery of the whole log is all duplicates');
    t.ok(actual['messages']!.some((m) => m.includes('during rebuild 9')), 'messages sent during the rebuild are there');
  });

  await t.test('unknown projection; one rebuild at a time', async (t) => {
    await t.rejects(rebuildProjection({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, name: 'nope', logger: silentLogger }), { name: 'RebuildError' });
    if (sqlOf(rm.orm).name === 'postgresql') {
      const [r1, r2] = await Promise.allSettled([
        rebuildProjection({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, name: 'users', logger: silentLogger, batchSize: 2 }),
        rebuildProjection({ db: rm.orm.db, store, projections: SQL_PROJECTIONS, name: 'users', logger: silentLogger, batchSize: 2 }),
      ]);
      const outcomes = [r1, r2].map((r) => (r.status === 'fulfilled' ? 'ok' : String((r.reason as Error).message)));
      t.ok(outcomes.includes('ok'), 'one ran');
      const schemas = (await emOf(rm.orm).execute(`SELECT nspname FROM pg_namespace WHERE starts_with(nspname, ?)`, [`${rm.where}_rb_`], 'all')) as unknown[];
      t.same(schemas, [], 'no scratch schema left behind');
    }
  });
}

t.test('postgresql: rebuild equals live', async (t) => {
  const { store, rm } = await postgresStoreAndReadModels(t, { store: 'rbes', readModels: 'rb' }, 4);
  await rebuildSuite(t, { store, rm, fresh: () => pgReadModels('rbref') });
});

t.test('sqlite: rebuild equals live', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rb-'));
  const store = await EmbeddedEventStore.open({ file: path.join(dir, 'events.sqlite') });
  const rm = await sqliteReadModels();
  t.teardown(async () => {
    await store.close();
    await rm.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await rebuildSuite(t, { store, rm, fresh: () => sqliteReadModels() });
});
