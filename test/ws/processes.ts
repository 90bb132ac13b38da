// The WebSocket tests' gateway child processes (gateways/ws/run.ts on a fixture's schema) and the
// typed client's transport over the `ws` package. Re-exported by support.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import type { Connect } from '../../gateways/ws/client/chat-socket.js';
import type { Fixture } from './support.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// ---- gateway child processes ----

export interface GatewayProcess {
  child: ChildProcess;
  port: number;
  output: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts gateways/ws/run.ts on the fixture's schema; resolves once it listens. `nodeArgs`: flags for its Node (e.g. --cpu-prof). */
export async function spawnGateway(fx: Pick<Fixture, 'ts' | 'settle'>, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<GatewayProcess> {
  await fx.settle();
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join(ROOT, 'gateways/ws/run.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: fx.ts.url, DATABASE_SCHEMA: fx.ts.schema, REDIS_URL: '', EVENTSTORE_URL: '', LOG_LEVEL: 'info',
      WS_PORT: '0', WS_RATE_PER_SEC: '1000', WS_RATE_BURST: '1000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${output.join('')}`)), 30_000);
    const onLine = (line: string): void => {
      output.push(line);
      if (!line.includes('ws gateway listening')) return;
      const port = (JSON.parse(line) as { port: number }).port;
      clearTimeout(timer);
      resolve({
        child, port, output,
        async stop(signal = 'SIGTERM') {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
      });
    };
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}: ${output.join('\n')}`));
    });
  });
}

// ---- the typed client over the ws package ----

export interface WsTransportFactory {
  connect: Connect;
  /** Every socket opened so far, newest last (tests cut them to simulate network drops). */
  sockets: WebSocket[];
}

export function wsTransport(headers: Record<string, string> = {}): WsTransportFactory {
  const sockets: WebSocket[] = [];
  const connect: Connect = (url, h) => {
    const ws = new WebSocket(url, { headers });
    sockets.push(ws);
    ws.on('open', () => h.open());
    ws.on('message', (d: Buffer, isBinary: boolean) => {
      if (!isBinary) h.message(d.toString('utf8'));
    });
    ws.on('close', (code: number, reason: Buffer) => h.close(code, reason.toString()));
    ws.on('error', () => undefined); // a refused upgrade: 'close' follows and the client reconnects
    return {
      send: (d) => { if (ws.readyState === WebSocket.OPEN) ws.send(d); },
      close: (c, r) => ws.close(c, r),
    };
  };
  return { connect, sockets };
}
