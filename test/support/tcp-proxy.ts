// A network outage between a client and a shared service (RabbitMQ, Redis) without stopping the
// service, which other tests use at the same time: the client connects through this proxy, and the
// test cuts and restores the path.
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** `url` with its host and port replaced by the proxy's (credentials, path and query kept). */
  via(url: string): string;
  /** Connections accepted while open (forwarded) and while cut (refused). */
  readonly forwarded: number;
  readonly refused: number;
  readonly isCut: boolean;
  /**
   * Destroys every open connection and refuses new ones until restore().
   * - 'reset' (default): both sides see a reset at once, as when the service's host crashes or its
   *   port is closed; reconnect attempts fail fast with ECONNRESET.
   * - 'silent': new connections are accepted and never answered (a black-holed network), so clients
   *   run into their own connect timeouts; open connections are still reset.
   */
  cut(mode?: 'reset' | 'silent'): void;
  restore(): void;
  close(): Promise<void>;
}

/**
 * `latencyMs`: each chunk is forwarded that much later in each direction (in order), so a round trip
 * costs twice that: a distant or overloaded service.
 */
export async function tcpProxy(target: { host?: string; port: number; latencyMs?: number }): Promise<TcpProxy> {
  const latencyMs = target.latencyMs ?? 0;
  const host = target.host ?? '127.0.0.1';
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  const held = new Set<net.Socket>();
  let cutMode: 'reset' | 'silent' | null = null;
  let forwarded = 0;
  let refused = 0;

  const server = net.createServer((client) => {
    client.on('error', () => undefined);
    if (cutMode !== null) {
      refused += 1;
      if (cutMode === 'reset') client.resetAndDestroy();
      else {
        held.add(client);
        client.on('close', () => held.delete(client));
      }
      return;
    }
    forwarded += 1;
    const upstream = net.connect({ host, port: target.port });
    upstream.on('error', () => undefined);
    const pair = { client, upstream };
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    // With latency, a close follows the data still on its way (same delay, so the timers keep the order).
    const endLater = (): void => void setTimeout(end, latencyMs);
    client.on('close', latencyMs > 0 ? endLater : end);
    upstream.on('close', latencyMs > 0 ? endLater : end);
    if (latencyMs > 0) {
      const delayed = (to: net.Socket) => (chunk: Buffer): void => {
        setTimeout(() => {
          if (!to.destroyed) to.write(chunk);
        }, latencyMs);
      };
      client.on('data', delayed(upstream));
      upstream.on('data', delayed(client));
    } else {
      client.pipe(upstream);
      upstream.pipe(client);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;

  const dropAll = (): void => {
    for (const { client, upstream } of [...pairs]) {
      // A reset, not a FIN: the client must not wait for a graceful close that never comes.
      if (!client.destroyed) client.resetAndDestroy();
      if (!upstream.destroyed) upstream.destroy();
    }
    pairs.clear();
  };

  return {
    port,
    via(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    get forwarded() {
      return forwarded;
    },
    get refused() {
      return refused;
    },
    get isCut() {
      return cutMode !== null;
    },
    cut(mode = 'reset') {
      cutMode = mode;
      dropAll();
    },
    restore() {
      cutMode = null;
      for (const s of held) s.destroy();
      held.clear();
    },
    async close() {
      cutMode = 'reset';
      dropAll();
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
