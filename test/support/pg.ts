// Each test gets its own PostgreSQL schema, dropped afterwards, so tests run in parallel safely.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { LISTEN_APPLICATION_NAME } from '../../infra/pg-listen.js';
import { waitFor } from './wait.js';

export const TEST_DATABASE_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestSchema {
  url: string;
  schema: string;
  drop(): Promise<void>;
}

export async function createTestSchema(label = 't'): Promise<TestSchema> {
  const schema = `${label.replace(/[^a-z0-9_]/g, '_')}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA "${schema}"`);
  await admin.end();
  return {
    url: TEST_DATABASE_URL,
    schema,
    async drop() {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    },
  };
}

/**
 * postgres-ordering.test.ts holds transactions open for seconds, which hides fresh appends from every
 * reader in the cluster; it takes this advisory lock exclusively. A test that reads the log takes it
 * shared for its whole run; the returned function releases it.
 */
export const ORDERING_LOCK = 7_420_311_001;

export async function holdOrderingLockShared(): Promise<() => Promise<void>> {
  const lock = new pg.Client({ connectionString: TEST_DATABASE_URL });
  lock.on('error', () => undefined); // the lock dies with the session; nothing else to do
  await lock.connect();
  await lock.query('SELECT pg_advisory_lock_shared($1)', [ORDERING_LOCK]);
  return () => lock.end();
}

/**
 * Resolves once a PostgresEventStore LISTENs on `channel` (`events_<schema>`). The store opens that
 * connection with its first subscription, asynchronously: a notification sent before its LISTEN took
 * effect never reaches it, and on a busy machine getting there can take a while.
 */
export async function storeListening(channel: string, timeoutMs = 60_000): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await waitFor(`an event store LISTENing on ${channel}`, async () => {
      const r = await client.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $2 AND state = 'idle' AND query ILIKE 'LISTEN%' AND strpos(query, $1) > 0",
        [`"${channel}"`, LISTEN_APPLICATION_NAME],
      );
      return r.rows[0]!.n > 0;
    }, timeoutMs);
  } finally {
    await client.end();
  }
}
