// A TCP proxy to PostgreSQL that cuts the connection of an append whose reply it swallows, and says
// whether that reply had committed: the group-commit fault test's way to lose a reply mid-append.
import net from 'node:net';

/** What the proxy swallowed when it cut a connection, from the reply's PostgreSQL messages. */
export type CutReply = 'committed' | 'failed' | 'unknown';

export interface CuttingProxy {
  port: number;
  /** Cut the next connection that gets a reply to an append statement (or, with false, no longer). */
  arm(on?: boolean): void;
  cuts: { batch: Record<CutReply, number>; single: Record<CutReply, number> };
  close(): Promise<void>;
}

/**
 * The message types in a reply chunk: a reply that holds CommandComplete and ReadyForQuery but no
 * ErrorResponse is a statement that ran and committed (autocommit). Assumes the chunk starts on a
 * message boundary, which holds for a reply flushed at once; anything else is 'unknown'.
 */
function classifyReply(chunk: Buffer): CutReply {
  const types = new Set<string>();
  for (let at = 0; at < chunk.length; ) {
    if (at + 5 > chunk.length) return 'unknown';
    types.add(String.fromCharCode(chunk[at]!));
    at += 1 + chunk.readInt32BE(at + 1);
  }
  if (types.has('E')) return 'failed';
  return types.has('C') && types.has('Z') ? 'committed' : 'unknown';
}

/** A TCP proxy to PostgreSQL that can drop an append's reply and cut its connection. */
export async function cuttingProxy(target: { host: string; port: number }): Promise<CuttingProxy> {
  const sockets = new Set<net.Socket>();
  const cuts = { batch: { committed: 0, failed: 0, unknown: 0 }, single: { committed: 0, failed: 0, unknown: 0 } };
  let armed = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    /** The append statement whose reply is awaited on this connection, if any (named in its Bind). */
    let pending: 'batch' | 'single' | null = null;
    client.on('data', (d) => {
      const text = d.toString('latin1');
      if (text.includes('es_append_batch')) pending = 'batch';
      else if (/es_append_(exact|any|no_stream)/.test(text)) pending = 'single';
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (pending && armed) {
        armed = false;
        cuts[pending][classifyReply(d)]++;
        client.destroy();
        upstream.destroy();
        return;
      }
      pending = null;
      client.write(d);
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => {
      sockets.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.end(); // flushes what the server sent last (a FATAL from pg_terminate_backend)
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    arm: (on = true) => (armed = on),
    cuts,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
