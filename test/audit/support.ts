// Shared by the audit tests: runs the real `chat` CLI in a child process against the embedded
// default (DATA_DIR) or a PostgreSQL schema, and prepares a log with its read models projected.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { openReadModelOrm, type ReadModelOrm } from '../../infra/read-models/orm.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { createStoreFeed } from '../../projections/runtime/store-feed.js';
import { TEST_DATABASE_URL } from '../support/pg.js';
import { settledHead, tracked } from '../support/tracked-store.js';
import { silentLogger } from '../projections/support.js';

const root = path.resolve(import.meta.dirname, '../..');

export type Where = { kind: 'embedded'; dataDir: string } | { kind: 'postgres'; schema: string };

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `stdin`: what the command reads on standard input (closed at once either way). */
export function chat(where: Where, args: string[], extraEnv: NodeJS.ProcessEnv = {}, stdin: string | Buffer = ''): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn', ...extraEnv };
  for (const k of ['DATABASE_URL', 'DATABASE_SCHEMA', 'EVENTSTORE_URL', 'REDIS_URL', 'AMQP_URL', 'DATA_DIR']) delete env[k];
  if (where.kind === 'embedded') env['DATA_DIR'] = where.dataDir;
  else {
    env['DATABASE_URL'] = TEST_DATABASE_URL;
    env['DATABASE_SCHEMA'] = where.schema;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin/chat.js'), ...args], { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => undefined); // a command that exits without reading it
    child.stdin.end(stdin);
  });
}

/** The event store and read models the CLI would open for `where`, for a test to prepare. */
export async function openWhere(where: Where): Promise<{ store: EventStore; orm: ReadModelOrm; close(): Promise<void> }> {
  const store: EventStore = tracked(where.kind === 'embedded'
    ? EmbeddedEventStore.open({ file: path.join(where.dataDir, 'events.sqlite') })
    : await PostgresEventStore.open({ connectionString: TEST_DATABASE_URL, schema: where.schema, poolSize: 2 }));
  const orm = await openReadModelOrm(
    where.kind === 'embedded'
      ? { kind: 'sqlite', file: path.join(where.dataDir, 'read-models.sqlite') }
      : { kind: 'postgresql', connectionString: TEST_DATABASE_URL, schema: where.schema, poolSize: 2 },
    silentLogger,
  );
  return { store, orm, close: async () => { await orm.close(); await store.close(); } };
}

/** Runs every SQL projection over the log until it has processed every append made through `store`. */
export async function project(store: EventStore, orm: ReadModelOrm): Promise<void> {
  const projector = createSqlProjector({ db: orm.db, projections: SQL_PROJECTIONS, logger: silentLogger });
  const feed = createStoreFeed({ store, projector, logger: silentLogger, lingerMs: 2, maxAttempts: 1, retryMinMs: 5 });
  await feed.start();
  try {
    await feed.waitFor(await settledHead(store), 20_000);
  } finally {
    await feed.stop();
  }
}
