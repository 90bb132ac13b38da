// A pooled connection that dies while checked out, between two queries of a transaction (a database
// restart, found by a fault run: the projector exited on "Connection terminated unexpectedly"), must
// fail the next query, not end the process with an uncaught 'error'.
import pg from 'pg';
import t from 'tap';
import { checkOut } from '../../infra/pg-checkout.js';
import { TEST_DATABASE_URL } from '../support/pg.js';

async function terminate(pid: number): Promise<void> {
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
  } finally {
    await admin.end();
  }
}

t.test('checkOut: a connection lost while out fails the next query, and the pool drops it', async (t) => {
  const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
  pool.on('error', () => undefined);
  t.teardown(() => pool.end());
  const { client, release } = await checkOut(pool);
  await client.query('BEGIN');
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  await terminate(pid);
  await ended; // the loss reached the idle client: with no listener, this was an uncaught exception
  await t.rejects(client.query('SELECT 1'), 'the next query fails');
  release();
  t.equal(pool.totalCount, 0, 'the broken client is not handed out again');
  t.equal((await pool.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n, 1, 'the pool goes on with a new connection');
});
