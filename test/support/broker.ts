/**
 * RabbitMQ helpers for tests. Every test uses its own name prefix (so its own exchange and queues)
 * and deletes them at the end. Anything that holds a broker connection for a while goes through the
 * resilient BrokerConnection: faults.test.ts runs `rabbitmqctl close_all_connections`, which also
 * closes the connections of tests running in parallel.
 */
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp, { type Channel, type ConsumeMessage } from 'amqplib';
import pino from 'pino';
import { BrokerConnection } from '../../infra/broker/connection.js';
import { deleteTopology, topologyNames, type Topology } from '../../infra/broker/topology.js';
import type { EventData, EventStore } from '../../commands/ports/event-store.js';
import { createLogger, type Logger } from '../../infra/logger.js';
import { waitFor as waitUntil } from './wait.js';

export const TEST_AMQP_URL = process.env['TEST_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

export const testPrefix = (): string => `t_${randomUUID().replace(/-/g, '').slice(0, 8)}`;

/** Silent unless TEST_LOG_LEVEL is set; always to stderr, since stdout carries TAP. */
export function testLogger(name: string): Logger {
  return createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent', name }, pino.destination({ fd: 2, sync: true }));
}

export { holdOrderingLockShared } from './pg.js';

/** Runs fn on a short-lived channel, retrying if a parallel test's close_all_connections hits it. */
export async function withChannel<T>(fn: (ch: Channel) => Promise<T>): Promise<T> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    let model: amqp.ChannelModel | null = null;
    try {
      model = await amqp.connect(TEST_AMQP_URL, { timeout: 10_000 });
      model.on('error', () => undefined);
      const ch = await model.createChannel();
      ch.on('error', () => undefined);
      const result = await fn(ch);
      await model.close().catch(() => undefined);
      return result;
    } catch (err) {
      lastError = err;
      await model?.close().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw lastError;
}

/** Publishes one raw message and waits for the broker's confirm (tests that bypass the relay). */
export async function publishRaw(exchange: string, routingKey: string, body: Buffer, options: amqp.Options.Publish = {}): Promise<void> {
  let model: amqp.ChannelModel | null = null;
  try {
    model = await amqp.connect(TEST_AMQP_URL, { timeout: 10_000 });
    model.on('error', () => undefined);
    const ch = await model.createConfirmChannel();
    ch.on('error', () => undefined);
    ch.publish(exchange, routingKey, body, options);
    await ch.waitForConfirms();
  } finally {
    await model?.close().catch(() => undefined);
  }
}

export async function removeTopology(prefix: string): Promise<void> {
  await withChannel((ch) => deleteTopology(ch, topologyNames(prefix)));
}

/** Ready messages in a queue (not counting the ones delivered and unacked). */
export async function queueDepth(queue: string): Promise<number> {
  return withChannel(async (ch) => (await ch.checkQueue(queue)).messageCount);
}

/** wait.ts's waitFor, polling less often: many checks here open a broker connection each. */
export const waitFor = (what: string, condition: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 50): Promise<void> =>
  waitUntil(what, condition, timeoutMs, everyMs);

export interface Received {
  id: string;
  position: bigint;
  redelivered: boolean;
  routingKey: string;
  persistent: boolean;
  contentType: unknown;
  headers: Record<string, unknown>;
  body: string;
}

/**
 * A plain test consumer of one queue that records every delivery and acks it, and resumes after a
 * reconnect. `redelivered` tells broker redeliveries (after a lost connection) from re-publishes.
 */
export class Collector {
  readonly received: Received[] = [];
  readonly #conn: BrokerConnection;
  #stopped = false;

  private constructor(conn: BrokerConnection) {
    this.#conn = conn;
  }

  static start(topology: Topology, queue: string, logger: Logger): Collector {
    const conn = BrokerConnection.start({ url: TEST_AMQP_URL, topology, logger, name: 'test-collector', minBackoffMs: 50, maxBackoffMs: 500 });
    const c = new Collector(conn);
    conn.onConnected((model) => {
      void (async () => {
        try {
          const ch = await model.createChannel();
          ch.on('error', () => undefined);
          await ch.prefetch(500);
          await ch.consume(queue, (msg: ConsumeMessage | null) => {
            if (!msg || c.#stopped) return;
            const position: unknown = msg.properties.headers?.['position'];
            c.received.push({
              id: String(msg.properties.messageId),
              position: BigInt(typeof position === 'string' ? position : '-1'),
              redelivered: msg.fields.redelivered,
              routingKey: msg.fields.routingKey,
              persistent: msg.properties.deliveryMode === 2,
              contentType: msg.properties.contentType,
              headers: { ...(msg.properties.headers ?? {}) },
              body: msg.content.toString('utf8'),
            });
            ch.ack(msg);
          });
        } catch {
          // the connection went away while setting up; onConnected runs again after the reconnect
        }
      })();
    });
    return c;
  }

  /** Deliveries that were published once (the broker marks its own redeliveries). */
  firstDeliveries(): Received[] {
    return this.received.filter((r) => !r.redelivered);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#conn.close();
  }
}

export const testEvent = (type: string, data: Record<string, unknown> = {}): EventData => ({ id: randomUUID(), type, data });

/**
 * Appends `total` events over `streams` streams, `perAppend` at a time, in round-robin. Returns the
 * ids in append order. `onProgress` lets a test act mid-stream (e.g. kill a process).
 */
export async function appendEvents(
  store: EventStore,
  opts: { total: number; streams: number; perAppend: number; streamPrefix: string; type?: string },
): Promise<string[]> {
  const ids: string[] = [];
  const revisions = new Map<string, number>();
  let n = 0;
  let s = 0;
  while (n < opts.total) {
    const stream = `${opts.streamPrefix}-${s % opts.streams}`;
    s += 1;
    const count = Math.min(opts.perAppend, opts.total - n);
    const events = Array.from({ length: count }, (_, i) => testEvent(opts.type ?? 'TestHappened', { n: n + i }));
    const expected = revisions.get(stream) ?? 'no_stream';
    const res = await store.append(stream, events, expected);
    revisions.set(stream, res.nextRevision);
    for (const e of events) ids.push(e.id);
    n += count;
  }
  return ids;
}

/** A child process running a test/support runner under tsx; stderr is kept for failure messages. */
export interface Child {
  proc: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
}

export function spawnRunner(script: string, env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr?.on('data', (chunk: Buffer) => {
    err = (err + chunk.toString('utf8')).slice(-20_000);
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, stderr: () => err, exited };
}

export async function killHard(child: Child): Promise<void> {
  if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
  await child.exited;
}

export async function stopGently(child: Child, timeoutMs = 10_000): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), timeoutMs);
  await child.exited;
  clearTimeout(timer);
}

const run = promisify(execFile);

/**
 * Closes, as `rabbitmqctl close_all_connections` would, every broker connection whose name
 * (`connection_name`) starts with `namePrefix`, and only those: test files running beside this one
 * keep theirs (closing them made their relays publish again). Needs root. Returns how many it closed.
 */
export async function closeBrokerConnections(namePrefix: string): Promise<number> {
  const { stdout } = await run('rabbitmqctl', ['list_connections', '--quiet', '--no-table-headers', 'pid', 'client_properties'], { timeout: 30_000 });
  const pids = stdout.split('\n').flatMap((line) => {
    const m = /^(<[^>\t]+>)\t.*\{"connection_name","([^"]*)"\}/.exec(line);
    return m && m[2]!.startsWith(namePrefix) ? [m[1]!] : [];
  });
  await Promise.all(pids.map((pid) => run('rabbitmqctl', ['close_connection', pid, 'test'], { timeout: 30_000 })));
  return pids.length;
}
