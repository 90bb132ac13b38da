/**
 * A RabbitMQ connection that survives the broker. amqplib does not reconnect the way we need (its
 * optional recovery does not recreate our channels or re-declare the topology), and an 'error' event
 * nobody listens to crashes the process. This class owns the one connection of a process role:
 *
 * - connects with capped, jittered backoff, forever until close();
 * - listens to 'error' and 'close' on the connection (and on the short-lived topology channel), so a
 *   broker restart or `rabbitmqctl close_all_connections` is logged, never thrown;
 * - re-declares the topology on every connect, then tells its owners (relay, consumer) through
 *   onConnected, so they open their channels again and resume;
 * - tracks 'blocked'/'unblocked' (a broker resource alarm): the relay stops publishing while blocked,
 *   since a blocked connection accepts writes into its socket buffer and confirms nothing.
 *
 * Owners create their own channels on the ChannelModel they are handed and must attach an 'error'
 * listener to each channel (channel errors are emitted on the channel, not on the connection).
 */
import amqp, { type ChannelModel } from 'amqplib';
import type { Logger } from '../logger.js';
import { backoffDelay, errorText, sleep } from './backoff.js';
import { assertTopology, type Topology } from './topology.js';

export interface BrokerConnectionOptions {
  url: string;
  topology: Topology;
  logger: Logger;
  /** Shown by `rabbitmqctl list_connections client_properties`; helps find a process's connection. */
  name: string;
  /** Missed heartbeats reveal a dead TCP peer that never sends FIN. Default 10 s. */
  heartbeatSeconds?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

type ConnectedListener = (model: ChannelModel, generation: number) => void;
type DisconnectedListener = (error: Error | undefined, generation: number) => void;

export class BrokerConnection {
  readonly #opts: Required<Omit<BrokerConnectionOptions, 'logger' | 'topology'>>;
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

  private constructor(opts: BrokerConnectionOptions) {
    this.#opts = {
      url: withHeartbeat(opts.url, opts.heartbeatSeconds ?? 10),
      name: opts.name,
      heartbeatSeconds: opts.heartbeatSeconds ?? 10,
      minBackoffMs: opts.minBackoffMs ?? 100,
      maxBackoffMs: opts.maxBackoffMs ?? 5000,
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
    while (!this.closed) {
      const lost = await this.#connectOnce();
      if (this.closed) break;
      if (lost === 'was-connected') attempt = 0;
      const delay = backoffDelay(attempt, { minMs: this.#opts.minBackoffMs, maxMs: this.#opts.maxBackoffMs });
      attempt += 1;
      this.#log.info({ retryInMs: delay, attempt }, 'amqp: reconnecting');
      await sleep(delay, this.#stop.signal);
    }
  }

  /** One connection's life: connect, declare, serve until it closes. Never throws. */
  async #connectOnce(): Promise<'never-connected' | 'was-connected'> {
    let model: ChannelModel;
    try {
      // timeout: a broker that accepts TCP but never answers must not hang the loop.
      model = await amqp.connect(this.#opts.url, { clientProperties: { connection_name: this.#opts.name }, timeout: 10_000 });
    } catch (err) {
      this.#lastError = errorText(err);
      this.#log.warn({ err: this.#lastError }, 'amqp: connect failed');
      return 'never-connected';
    }
    let closedWith: Error | undefined;
    const closed = new Promise<void>((resolve) => {
      model.on('close', (err?: Error) => {
        closedWith = err ?? closedWith;
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
      const ch = await model.createChannel();
      ch.on('error', (err: Error) => this.#log.warn({ err: err.message }, 'amqp: topology channel error'));
      await assertTopology(ch, this.#topology);
      await ch.close();
    } catch (err) {
      // Typically 406 PRECONDITION_FAILED: a queue exists with other arguments. Retrying with backoff
      // keeps the process alive and loud until someone fixes the broker or the configuration.
      this.#lastError = errorText(err);
      this.#log.error({ err: this.#lastError }, 'amqp: could not declare the topology');
      await model.close().catch(() => undefined);
      return 'never-connected';
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
    this.#log.info({ generation }, 'amqp: connected');
    this.#wakeWaiters();
    for (const fn of [...this.#connectedListeners]) this.#notify(() => fn(model, generation));

    await closed;
    this.#model = null;
    this.#blocked = false;
    if (!this.closed) {
      if (closedWith) this.#lastError = closedWith.message;
      this.#log.warn({ err: closedWith?.message, generation }, 'amqp: connection lost');
    }
    this.#wakeWaiters();
    for (const fn of [...this.#disconnectedListeners]) this.#notify(() => fn(closedWith, generation));
    return 'was-connected';
  }

  #notify(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ err: errorText(err) }, 'amqp: a connection listener threw');
    }
  }
}

/** Adds a heartbeat to the URL unless it names one; amqplib reads it from the query string. */
function withHeartbeat(url: string, seconds: number): string {
  const u = new URL(url);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(seconds));
  return u.toString();
}
