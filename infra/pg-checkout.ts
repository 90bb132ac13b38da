/**
 * A client taken from a pg Pool, listened to while it is out. The pool listens only to its idle
 * clients: a connection that dies while checked out, between two queries of a transaction (the
 * database restarted or was killed), emits 'error' on the client, and with no listener that is an
 * uncaught exception that ends the process. Here the next query on it fails and reports the loss,
 * and release() hands the broken client back as such, so the pool drops it.
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
