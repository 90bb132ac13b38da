// A dependency that is down, on a port the test holds itself. A fixed "unused" port (6390, 1 …)
// proves nothing on a shared machine: anything may listen there, and then the test measures that.
import net from 'node:net';

export interface DeadEndpoint {
  port: number;
  /** `${scheme}://127.0.0.1:${port}` */
  url(scheme: string): string;
  /** Connections accepted so far: shows the client did try this endpoint. */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * Listens on a port from the OS and keeps it, so nothing else can take it while the test runs.
 * - 'reset': every connection is reset as soon as it is accepted; the client sees ECONNRESET at once,
 *   as with a stopped service (a refused connection) or one that crashes on accept.
 * - 'silent': connections are accepted and never answered (a hung process, a black-holed network);
 *   the client runs into its own timeouts.
 */
export async function deadEndpoint(mode: 'reset' | 'silent' = 'reset'): Promise<DeadEndpoint> {
  const held = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections += 1;
    socket.on('error', () => undefined);
    if (mode === 'reset') {
      socket.resetAndDestroy();
      return;
    }
    held.add(socket);
    socket.on('close', () => held.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    url: (scheme) => `${scheme}://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    async close() {
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
