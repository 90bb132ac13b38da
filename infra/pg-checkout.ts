/**
 * A client taken from a pg Pool, listened to while it is out. The pool listens only to its idle
 * clients: a connection that dies while checked out, between two queries of a transaction (the
 * database restarted or was killed), emits 'error' on the client, and with no listener that is an
 * uncaught exception that ends the process. Here the next query on it fails and reports the loss,
 * and release() hands the broken client back as such, so the pool drops it.
 *
 * inTransaction() is the whole BEGIN … COMMIT round on such a client, for the callers that need no
 * more than that; a caller that begins lazily (read-models/pg-db.ts) uses checkOut and rollback.
 */
import type pg from 'pg';

export interface CheckedOut {
  client: pg.PoolClient;
  /** `broken`: the client must not be reused (a failed ROLLBACK); a lost connection counts too. */
  release(broken?: Error): void;
}

export async function checkOut(pool: pg.Pool): Promise<CheckedOut> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (err: Error): void => {
    lost = err;
  };
  client.on('error', onError);
  return {
    client,
    release(broken) {
      client.off('error', onError);
      client.release(broken ?? lost);
    },
  };
}

/** Rolls back; the error when that fails too, for release(): such a client must not be reused. */
export async function rollback(client: pg.PoolClient): Promise<Error | undefined> {
  try {
    await client.query('ROLLBACK');
    return undefined;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

/** Runs `work` between BEGIN and COMMIT on a pooled connection; rolls back if it fails. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const { client, release } = await checkOut(pool);
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    broken = await rollback(client);
    throw err;
  } finally {
    release(broken);
  }
}
