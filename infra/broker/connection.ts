/**
 * A RabbitMQ connection that survives the broker. amqplib does not reconnect the way we need (its
 * optional recovery does not recreate our channels or re-declare the topology), and an 'error' event
 * nobody listens to crashes the process. This class owns the one connection of a process role:
 *
 * - connects with capped, jittered backoff, forever until close(). The cap is low (1 s by default):
 *   a refused or reset connect costs next to nothing, while every second spent waiting after the
 *   broker is back adds a second of backlog to the read models (docs/performance.md). Failures are
 *   logged at most once per 10 s, so the short cap does not flood the log during a long outage;
 * - listens to 'error' and 'close' on the connection (and on the short-lived topology channel), so a
 *   broker restart or `rabbitmqctl close_all_connections` is logged, never thrown;
 * - re-declares the topology on every connect, then tells its owners (relay, consumer) through
 *   onConnected, so they open their channels again and resume;
 * - with several URLs (the nodes of a cluster), tries them in turn: a lost connection or a failed
 *   connect moves on to the next node at once, and only a whole round of failures waits a backoff;
 * - tracks 'blocked'/'unblocked' (a broker resource alarm): the relay stops publishing while blocked,
 *   since a blocked connection accepts writes into its socket buffer and confirms nothing.
 *
 * Owners create their own channels on the ChannelModel they are handed and must attach an 'error'
 * listener to each channel (channel errors are emitted on the channel, not on the connection).
 *
 * Why not amqp-connection-manager (5.0.0, evaluated 2026-12 on Node 20 with amqplib 2.3.1: it installs
 * and runs): it waits a fixed reconnectTimeInSeconds (default 5 s, no backoff, no jitter) after every
 * failed connect, also between the nodes of an AMQP_URL list, so a dead first node delayed reaching a
 * live second one by 5.1 s (measured; here the next node is tried at once, and refused connects retry
 * within 250 ms). On connection.blocked it only re-emits the event: its ChannelWrapper goes on
 * publishing (and queues publishes in memory while disconnected), where the relay must pause and
 * resume from its checkpoint. Keeping the behaviour test/broker and test/cluster/failover check
 * would need all of this on top of it anyway.
 */
import amqp, { type ChannelModel } from 'amqplib';
import type { Logger } from '../logger.js';
import { backoffDelay, errorText, sleep } from '../retry.js';
import { assertTopology, type Topology } from './topology.js';

export interface BrokerConnectionOptions {
  /** One broker, or the nodes of a cluster in order of preference. */
  url: string | readonly string[];
  topology: Topology;
  logger: Logger;
  /** Shown by `rabbitmqctl list_connections client_properties`; helps find a process's connection. */
  name: string;
  /** Missed heartbeats reveal a dead TCP peer that never sends FIN. Default 10 s. */
  heartbeatSeconds?: number;
  /** First reconnect delay. Default 100 ms. */
  minBackoffMs?: number;
  /** Cap of the reconnect delay. Default 1000 ms. */
  maxBackoffMs?: number;
}

const WARN_EVERY_MS = 10_000;
/**
 * Cap of the delay while connects are refused or reset at the TCP level (broker stopped, booting, or
 * unreachable port): such an attempt costs the broker nothing, and it is what a broker coming back
 * answers until it listens, so retrying this often finds it within a fraction of a second.
 */
const REFUSED_RETRY_MAX_MS = 250;
const REFUSED_CODES = new Set(['ECONNREFUSED', 'ECONNRESET']);

type ConnectedListener = (model: ChannelModel, generation: number) => void;
type DisconnectedListener = (error: Error | undefined, generation: number) => void;

export class BrokerConnection {
  readonly #opts: Required<Omit<BrokerConnectionOptions, 'logger' | 'topology' | 'url'>>;
  readonly #urls: readonly string[];
  /** Index into #urls of the node to try next. */
  #next = 0;
  readonly #topology: Topology;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  #model: ChannelModel | null = null;
  #generation = 0;
  #blocked = false;
  #lastError: string | null = null;
  #connectedListeners = new Set<ConnectedListener>();
  #disconnectedListeners = new Set<DisconnectedListener>();
  /** Waiters for "connected" and for "not blocked"; re-checked on every state change. */
  #waiters = new Set<() => void>();
  #loop: Promise<void> | null = null;
  /** Rate limit of the 'connect failed' / 'reconnecting' lines: the first of an outage, then one per WARN_EVERY_MS. */
  #lastRetryLogAt = 0;
  #retriesNotLogged = 0;

  private constructor(opts: BrokerConnectionOptions) {
    const urls = typeof opts.url === 'string' ? [opts.url] : opts.url;
    if (urls.length === 0) throw new Error('BrokerConnection needs at least one URL');
    this.#urls = urls.map((u) => withHeartbeat(u, opts.heartbeatSeconds ?? 10));
    this.#opts = {
      name: opts.name,
      heartbeatSeconds: opts.heartbeatSeconds ?? 10,
      minBackoffMs: opts.minBackoffMs ?? 100,
      maxBackoffMs: opts.maxBackoffMs ?? 1000,
    };
    this.#topology = opts.topology;
    this.#log = opts.logger.child({ component: 'amqp', connection: opts.name });
  }

  /** Starts connecting in the background; use ready() to wait for the first connection. */
  static start(opts: BrokerConnectionOptions): BrokerConnection {
    const c = new BrokerConnection(opts);
    c.#loop = c.#run();
    return c;
  }

  get connected(): boolean {
    return this.#model !== null;
  }

  get blocked(): boolean {
    return this.#blocked;
  }

  get closed(): boolean {
    return this.#stop.signal.aborted;
  }

  /** Increases on each successful connect; owners use it to tell an old channel from a current one. */
  get generation(): number {
    return this.#generation;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  get topology(): Topology {
    return this.#topology;
  }

  /** host:port of the node connected to (or tried last); never the credentials. */
  get node(): string {
    return nodeOf(this.#urls[(this.#next + this.#urls.length - 1) % this.#urls.length]!);
  }

  /** Called after every (re)connect once the topology is declared; also at once if already connected. */
  onConnected(fn: ConnectedListener): () => void {
    this.#connectedListeners.add(fn);
    if (this.#model) fn(this.#model, this.#generation);
    return () => this.#connectedListeners.delete(fn);
  }

  onDisconnected(fn: DisconnectedListener): () => void {
    this.#disconnectedListeners.add(fn);
    return () => this.#disconnectedListeners.delete(fn);
  }

  /** The live connection, waiting for one; null when closed or when `signal` aborts first. */
  async ready(signal?: AbortSignal): Promise<ChannelModel | null> {
    await this.#until(() => this.#model !== null, signal);
    return this.closed || signal?.aborted ? null : this.#model;
  }

  /** Waits until the broker lifts a resource alarm (or the connection is replaced, or closed). */
  async unblocked(signal?: AbortSignal): Promise<void> {
    await this.#until(() => !this.#blocked, signal);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.#stop.abort();
    this.#wakeWaiters();
    const model = this.#model;
    if (model) await model.close().catch(() => undefined);
    await this.#loop;
  }

  async #until(condition: () => boolean, signal?: AbortSignal): Promise<void> {
    while (!condition() && !this.closed && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.#waiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.#waiters.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  #wakeWaiters(): void {
    for (const w of [...this.#waiters]) w();
  }

  async #run(): Promise<void> {
    let attempt = 0;
    /** Nodes tried since the last connection or backoff: the next node is tried at once until all failed. */
    let triedThisRound = 0;
    while (!this.closed) {
      const lost = await this.#connectOnce();
      if (this.closed) break;
      if (lost === 'was-connected') {
        attempt = 0;
        triedThisRound = 0;
        this.#lastRetryLogAt = 0;
      }
      triedThisRound += 1;
      // A cluster: a node that just failed is likely down; another one is likely up. No wait.
      if (triedThisRound < this.#urls.length) continue;
      triedThisRound = 0;
      const maxMs = lost === 'refused' ? Math.min(this.#opts.maxBackoffMs, REFUSED_RETRY_MAX_MS) : this.#opts.maxBackoffMs;
      const delay = backoffDelay(attempt, { minMs: Math.min(this.#opts.minBackoffMs, maxMs), maxMs });
      attempt += 1;
      if (this.#shouldLogRetry()) {
        const fields = { err: this.#lastError, retryInMs: delay, attempt, notLogged: this.#retriesNotLogged };
        if (lost === 'topology-failed') this.#log.error(fields, 'amqp: could not declare the topology; retrying');
        else this.#log.warn(fields, 'amqp: not connected; reconnecting');
        this.#retriesNotLogged = 0;
      }
      await sleep(delay, this.#stop.signal);
    }
  }

  /** One connection's life: connect, declare, serve until it closes. Never throws. */
  async #connectOnce(): Promise<'refused' | 'never-connected' | 'topology-failed' | 'was-connected'> {
    let model: ChannelModel;
    const url = this.#urls[this.#next]!;
    this.#next = (this.#next + 1) % this.#urls.length;
    try {
      // timeout: a broker that accepts TCP but never answers must not hang the loop.
      model = await amqp.connect(url, { clientProperties: { connection_name: this.#opts.name }, timeout: 10_000 });
    } catch (err) {
      // Logged by #run, rate-limited: with a short backoff cap an outage retries every second.
      this.#lastError = `${nodeOf(url)}: ${errorText(err)}`;
      const code = (err as { code?: unknown }).code;
      return typeof code === 'string' && REFUSED_CODES.has(code) ? 'refused' : 'never-connected';
    }
    let closedWith: Error | undefined;
    const closed = new Promise<void>((resolve) => {
      model.on('close', (err?: Error) => {
        closedWith = err ?? closedWith;
        // At once, not after the await below: amqplib closes the channels first, in the same call, and
        // an owner handling its channel's close must already see `connected` false, so it waits for
        // the reconnect instead of backing off on top of it.
        if (this.#model === model) this.#model = null;
        resolve();
      });
    });
    // An 'error' is always followed by 'close'; listening is what keeps it from crashing the process.
    model.on('error', (err: Error) => {
      closedWith = err;
      this.#lastError = err.message;
      this.#log.warn({ err: err.message }, 'amqp: connection error');
    });
    model.on('blocked', (reason: string) => {
      this.#blocked = true;
      this.#log.warn({ reason }, 'amqp: connection blocked by the broker (resource alarm); publishing paused');
      this.#wakeWaiters();
    });
    model.on('unblocked', () => {
      this.#blocked = false;
      this.#log.info('amqp: connection unblocked');
      this.#wakeWaiters();
    });
    // A throwing listener of ours must not take the connection down with it.
    model.on('handler-error', (err: Error, eventName: string) => {
      this.#log.error({ err: err.message, eventName }, 'amqp: a connection event handler threw');
    });

    try {
      await assertTopology(model, this.#topology);
    } catch (err) {
      // Typically 406 PRECONDITION_FAILED: a queue exists with other arguments. Retrying with backoff
      // keeps the process alive and loud until someone fixes the broker or the configuration.
      this.#lastError = errorText(err);
      await model.close().catch(() => undefined);
      return 'topology-failed';
    }
    if (this.closed) {
      await model.close().catch(() => undefined);
      return 'was-connected';
    }

    this.#generation += 1;
    const generation = this.#generation;
    this.#model = model;
    this.#blocked = false;
    this.#lastError = null;
    this.#log.info({ generation, node: nodeOf(url) }, 'amqp: connected');
    this.#wakeWaiters();
    for (const fn of [...this.#connectedListeners]) this.#notify(() => fn(model, generation));

    await closed;
    this.#model = null;
    this.#blocked = false;
    if (!this.closed) {
      if (closedWith) this.#lastError = closedWith.message;
      this.#log.warn({ err: closedWith?.message, generation, node: nodeOf(url) }, 'amqp: connection lost');
    }
    this.#wakeWaiters();
    for (const fn of [...this.#disconnectedListeners]) this.#notify(() => fn(closedWith, generation));
    return 'was-connected';
  }

  #shouldLogRetry(): boolean {
    const now = Date.now();
    if (now - this.#lastRetryLogAt < WARN_EVERY_MS) {
      this.#retriesNotLogged += 1;
      return false;
    }
    this.#lastRetryLogAt = now;
    return true;
  }

  #notify(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ err: errorText(err) }, 'amqp: a connection listener threw');
    }
  }
}

function nodeOf(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || (u.protocol === 'amqps:' ? '5671' : '5672')}`;
}

/** Adds a heartbeat to the URL unless it names one; amqplib reads it from the query string. */
function withHeartbeat(url: string, seconds: number): string {
  const u = new URL(url);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(seconds));
  return u.toString();
}
