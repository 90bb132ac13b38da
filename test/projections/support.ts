// Shared by the projection tests: a realistic history made by the real commands, read models on a
// per-test PostgreSQL schema or a temporary SQLite file, and a dump of every read-model table.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createCommandBus } from '../../commands/handle-command.js';
import type { CommandDeps } from '../../commands/deps.js';
import { login } from '../../commands/login.js';
import { logout } from '../../commands/logout.js';
import { openChat } from '../../commands/open-chat.js';
import { register } from '../../commands/register.js';
import { sendMessage } from '../../commands/send-message.js';
import { startChat } from '../../commands/start-chat.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { toPublicRecord, type PublicRecord } from '../../projections/ports/public-record.js';
import { createLogger, type Logger } from '../../infra/logger.js';
import { createArgon2Hasher } from '../../infra/password-hasher.js';
import { emOf, openReadModelOrm, sqlOf, type ReadModelOrm } from '../../infra/read-models/orm.js';
import { createTestSchema, holdOrderingLockShared } from '../support/pg.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { tracked } from '../support/tracked-store.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { tablesOf } from '../../projections/runtime/apply.js';
import type { Test } from 'tap';

export const silentLogger: Logger = createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent', name: 'test' });

const hasher = createArgon2Hasher({ memoryKiB: 19456, timeCost: 2, parallelism: 1, maxConcurrent: 4 });

/** Command deps whose clock moves one second per call, so events have distinct, ordered times. */
export function depsWithClock(store: EventStore, start = Date.parse('2026-01-01T00:00:00Z')): CommandDeps {
  let tick = 0;
  return { bus: createCommandBus(store, { maxRetries: 5 }), hasher, clock: () => new Date(start + 1000 * tick++), newId: randomUUID };
}

function ok<T>(r: { ok: true; value: T } | { ok: false; error: { code: string } }): T {
  if (!r.ok) throw new Error(`command failed: ${r.error.code}`);
  return r.value;
}

/**
 * Writes a small but complete history through the commands: registrations, logins and logouts,
 * three chats, chats opened, and messages (one with quotes, a backslash, a '?' and non-ASCII text).
 */
export async function writeHistory(store: EventStore, prefix = ''): Promise<{ users: string[]; chats: string[] }> {
  const deps = depsWithClock(store);
  const users = ['alice', 'bob', 'carol', 'dave'].map((u) => `${prefix}${u}`);
  for (const u of users) ok(await register(deps, { username: u, password: 'password1', role: u.endsWith('dave') ? 'auditor' : 'user' }));
  for (const u of users.slice(0, 3)) ok(await login(deps, { username: u, password: 'password1' }));
  const [a, b, c, d] = users as [string, string, string, string];
  const chats = [
    ok(await startChat(deps, { initiatorId: a, otherUsername: b })).chatId,
    ok(await startChat(deps, { initiatorId: c, otherUsername: a })).chatId,
    ok(await startChat(deps, { initiatorId: b, otherUsername: d })).chatId,
  ];
  ok(await openChat(deps, { userId: b, chatId: chats[0]! }));
  ok(await openChat(deps, { userId: a, chatId: chats[1]! }));
  const bodies = ['hi', 'hello!', 'say "hi" \\ ok? — ünïcødé ✓', 'how are you', 'fine', "it's late", 'bye'];
  let n = 0;
  for (let round = 0; round < 4; round++) {
    for (const [chat, x, y] of [[chats[0], a, b], [chats[1], c, a], [chats[2], b, d]] as Array<[string, string, string]>) {
      const sender = n % 2 === 0 ? x : y;
      ok(await sendMessage(deps, { senderId: sender, chatId: chat, body: bodies[n % bodies.length]!, clientMessageId: `c${n}` }));
      n++;
    }
  }
  ok(await logout(deps, { userId: a }));
  ok(await login(deps, { username: a, password: 'password1' }));
  ok(await logout(deps, { userId: c }));
  return { users, chats };
}

export async function readAllRecords(store: EventStore): Promise<PublicRecord[]> {
  const out: PublicRecord[] = [];
  for (let after = 0n; ; ) {
    const page = await store.readAll({ after, maxCount: 1000 });
    if (page.length === 0) return out;
    out.push(...page.map(toPublicRecord));
    after = page[page.length - 1]!.position;
  }
}

let cachedHistory: Promise<PublicRecord[]> | null = null;
/** The public records of one history written to an in-memory embedded store (made once per process). */
export function historyRecords(): Promise<PublicRecord[]> {
  cachedHistory ??= (async () => {
    const store = await EmbeddedEventStore.open({ file: ':memory:' });
    try {
      await writeHistory(store);
      return await readAllRecords(store);
    } finally {
      await store.close();
    }
  })();
  return cachedHistory;
}

export interface TestReadModels {
  orm: ReadModelOrm;
  /** PostgreSQL schema, or the SQLite file. */
  where: string;
  url?: string;
  close(): Promise<void>;
}

export async function pgReadModels(label = 'rm'): Promise<TestReadModels> {
  const ts = await createTestSchema(label);
  const orm = await openReadModelOrm({ kind: 'postgresql', connectionString: ts.url, schema: ts.schema, poolSize: 4 }, silentLogger);
  return {
    orm,
    where: ts.schema,
    url: ts.url,
    async close() {
      await orm.close();
      await ts.drop();
    },
  };
}

export async function sqliteReadModels(): Promise<TestReadModels> {
  const dir = mkdtempSync(path.join(tmpdir(), 'rm-'));
  const file = path.join(dir, 'read-models.sqlite');
  const orm = await openReadModelOrm({ kind: 'sqlite', file }, silentLogger);
  return {
    orm,
    where: file,
    async close() {
      await orm.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export { holdOrderingLockShared } from '../support/pg.js';

type Teardown = { teardown(fn: () => unknown): void };

/** An in-memory embedded store and read models (SQLite unless `open` says otherwise), both closed at the test's teardown. */
export async function embeddedStoreAndReadModels(t: Teardown, open: () => Promise<TestReadModels> = sqliteReadModels): Promise<{ store: EmbeddedEventStore; rm: TestReadModels }> {
  const store = EmbeddedEventStore.open({ file: ':memory:' });
  const rm = await open();
  t.teardown(async () => {
    await store.close();
    await rm.close();
  });
  return { store, rm };
}

/**
 * A PostgreSQL store in a schema of its own (tracked, so settledHead works) and PostgreSQL read models,
 * under the shared ordering lock; all closed, dropped and released at the test's teardown.
 */
export async function postgresStoreAndReadModels(t: Teardown, labels: { store: string; readModels: string }, poolSize = 3): Promise<{ store: EventStore; rm: TestReadModels }> {
  const release = await holdOrderingLockShared();
  const es = await createTestSchema(labels.store);
  const store = tracked(await PostgresEventStore.open({ connectionString: es.url, schema: es.schema, poolSize }));
  const rm = await pgReadModels(labels.readModels);
  t.teardown(async () => {
    await store.close();
    await rm.close();
    await es.drop();
    await release();
  });
  return { store, rm };
}

/**
 * Runs check as two subtests of t: on the embedded store with SQLite read models, and on PostgreSQL
 * for both (schemas named after labels), the two adapters the service runs with.
 */
export function onBothStores(
  t: Test, title: string, labels: { store: string; readModels: string }, check: (t: Test, store: EventStore, rm: TestReadModels) => Promise<void>,
): void {
  t.test(`embedded store, SQLite read models: ${title}`, async (t) => {
    const { store, rm } = await embeddedStoreAndReadModels(t);
    await check(t, store, rm);
  });
  t.test(`PostgreSQL store and read models: ${title}`, async (t) => {
    const { store, rm } = await postgresStoreAndReadModels(t, labels);
    await check(t, store, rm);
  });
}

/** Every projection's tables, then the runtime's own (the error log is the service's, not theirs). */
export const READ_MODEL_TABLES: ReadonlyArray<string> = [
  ...SQL_PROJECTIONS.flatMap(tablesOf), 'projection_inbox', 'projection_checkpoints', 'dead_letters',
];

/** Columns that depend on when or in which order rows were written, not on what was applied. */
const VOLATILE = new Set(['id', 'updated_at', 'parked_at', 'retried_at']);

const normalize = (v: unknown): unknown => {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'bigint') return v.toString();
  return v;
};

/** Every row of a table as sorted JSON lines, without volatile columns; times as ISO strings. */
export async function dumpTable(orm: ReadModelOrm, table: string): Promise<string[]> {
  const sql = sqlOf(orm);
  const rows = (await emOf(orm).execute(`SELECT * FROM ${sql.table(table)}`, [], 'all')) as Array<Record<string, unknown>>;
  const timeCols = new Set(['registered_at', 'last_login_at', 'started_at', 'last_message_at', 'sent_at', 'at']);
  return rows
    .map((r) => {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(r).sort()) {
        if (VOLATILE.has(k)) continue;
        let v = normalize(r[k]);
        if (timeCols.has(k) && v !== null && v !== undefined) v = new Date(typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : (v as string | number)).toISOString();
        if ((k === 'position' || k === 'revision' || k === 'last_message_revision') && v !== null) v = String(v);
        out[k] = v;
      }
      return JSON.stringify(out);
    })
    .sort();
}

export async function dumpAll(orm: ReadModelOrm, tables: ReadonlyArray<string> = READ_MODEL_TABLES): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of tables) out[t] = await dumpTable(orm, t);
  return out;
}

export async function truncateAll(orm: ReadModelOrm): Promise<void> {
  const sql = sqlOf(orm);
  const em = emOf(orm);
  if (sql.name === 'postgresql') await em.execute(`TRUNCATE ${READ_MODEL_TABLES.map((t) => sql.table(t)).join(', ')}`, [], 'run');
  else for (const t of READ_MODEL_TABLES) await em.execute(`DELETE FROM ${sql.table(t)}`, [], 'run');
}
