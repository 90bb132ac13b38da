/**
 * The relay: event store → RabbitMQ, at least once, in log order.
 *
 * One relay per deployment publishes; others wait as standbys (see relay-leadership.ts). The leader
 * follows the log from its checkpoint with subscribeToAll, publishes in batches on a confirm channel
 * and moves the checkpoint only over the longest prefix of the batch that the broker confirmed and
 * did not return. So:
 * - nothing confirmed is ever skipped: the checkpoint never passes an unconfirmed message;
 * - a crash re-publishes at most `batchSize` messages: the batch in flight and those confirmed past the
 *   written checkpoint, together (duplicates at the broker, which consumers remove by event id; never
 *   missing events). Under live load a batch is a few ms of events, and a write per batch was one
 *   PostgreSQL commit per batch: so the checkpoint is written once per `checkpointEveryMs`, or as
 *   soon as UNWRITTEN_MAX messages are confirmed past it, or before a batch that would pass the bound;
 * - an unroutable message (mandatory, returned by the broker, which then still acks it!) is a failure:
 *   the relay backs off and retries from the checkpoint until a queue is bound again.
 * Messages are persistent and carry messageId = event id, routing key = event type, and the position
 * and stream in headers (no more: each is encoded per message). The body is always
 * toPublicRecord(event): upcast, then redacted (relay-publish.ts).
 */
import type { ConfirmChannel, Message } from 'amqplib';
import type { EventStore, RecordedEvent } from '../../commands/ports/event-store.js';
import { batchesOf } from '../../projections/ports/subscription-batches.js';
import type { Logger } from '../logger.js';
import { backoffDelay, errorText, sleep } from '../retry.js';
import type { BrokerConnection } from './connection.js';
import { CheckpointConflictError, RelaySession } from './relay-leadership.js';
import { publishConfirmed } from './relay-publish.js';
import { brokerWorker, type BrokerWorker } from './worker.js';

export interface RelayOptions {
  store: EventStore;
  connection: BrokerConnection;
  /** The PostgreSQL database holding the checkpoint (and taking the leadership lock). */
  databaseUrl: string;
  /** Schema of the relay_checkpoint table (created if missing). */
  schema: string;
  logger: Logger;
  /** Checkpoint row and lock identity; defaults to the exchange name. */
  name?: string;
  /**
   * Most messages per confirm round trip (and per checkpoint write). Default 1000, the event store's
   * page: live traffic makes small batches anyway, and after an outage the backlog goes out a page
   * per round trip. It also bounds what a crash re-publishes.
   */
  batchSize?: number;
  /**
   * How long a partial batch waits for more events before it is published, and the least time between
   * the relay's reads of the log. Default 50 ms: the relay feeds only the read side (lag target 1 s),
   * never a live socket, and at a few hundred messages a second a wait of 5 ms made a log read, a
   * confirm round trip and a broker delivery per message (bench:e2e, docs/performance.md).
   */
  lingerMs?: number;
  /** Least time between two checkpoint writes (but see UNWRITTEN_MAX); stop() writes it. Default 100 ms. */
  checkpointEveryMs?: number;
  /** How often a standby tries to take over. Default 1000 ms. */
  standbyPollMs?: number;
  /**
   * Backoff after a failure on a live connection (unroutable, nacked, channel error) or of the
   * leadership session. Defaults 100 ms and 1000 ms: a retry costs one batch, and a long pause would
   * keep the read models behind after the cause is fixed. A lost connection is not retried here.
   */
  retryMinMs?: number;
  retryMaxMs?: number;
}

export interface RelayStatus {
  name: string;
  leader: boolean;
  connected: boolean;
  blocked: boolean;
  /** Successful broker connects so far; above 1 means it reconnected. */
  connects: number;
  /** Last checkpoint this relay read or wrote; null before it first led. */
  checkpoint: bigint | null;
  /** Messages confirmed by the broker since start (including re-publishes). */
  published: number;
  lastError: string | null;
}

export const DEFAULT_RELAY_LINGER_MS = 50;

/** Most confirmed messages left past the written checkpoint: bounds what a crash re-publishes besides the batch in flight. */
const UNWRITTEN_MAX = 100;

/** Thrown inside a batch when the broker did not take every message; the checkpoint stays put. */
class PublishIncompleteError extends Error {
  override name = 'PublishIncompleteError';
}

export class Relay {
  readonly #opts: Required<Omit<RelayOptions, 'store' | 'connection' | 'logger' | 'retryMinMs' | 'retryMaxMs'>>;
  readonly #store: EventStore;
  readonly #w: BrokerWorker;
  #run: Promise<void> | null = null;
  #session: RelaySession | null = null;
  #checkpoint: bigint | null = null;
  #published = 0;
  #lastError: string | null = null;
  /** Consecutive publishing failures, for the backoff; a fully confirmed batch resets it. */
  #failures = 0;
  /** Confirmed by the broker past the written checkpoint: through where, and how many; writes go one at a time on #checkpointWrite. */
  #confirmedThrough: bigint | null = null;
  #unwritten = 0;
  #checkpointWrite: Promise<void> = Promise.resolve();
  #checkpointTimer: NodeJS.Timeout | null = null;
  #lastCheckpointAt = -Infinity;
  /** A deferred checkpoint write failed (leadership lost, another relay wrote): the pump stops on it. */
  #checkpointError: unknown = null;

  constructor(opts: RelayOptions) {
    this.#store = opts.store;
    this.#opts = {
      databaseUrl: opts.databaseUrl,
      schema: opts.schema,
      name: opts.name ?? opts.connection.topology.exchange,
      batchSize: opts.batchSize ?? 1000,
      lingerMs: opts.lingerMs ?? DEFAULT_RELAY_LINGER_MS,
      checkpointEveryMs: opts.checkpointEveryMs ?? 100,
      standbyPollMs: opts.standbyPollMs ?? 1000,
    };
    this.#w = brokerWorker(opts, { component: 'relay', relay: this.#opts.name });
  }

  start(): void {
    if (this.#run || this.#w.stop.signal.aborted) return;
    this.#run = this.#loop();
  }

  /** Finishes the batch in flight (confirm + checkpoint), then releases leadership. */
  async stop(): Promise<void> {
    this.#w.stop.abort();
    await this.#run;
  }

  status(): RelayStatus {
    return {
      name: this.#opts.name,
      leader: this.#session?.leading ?? false,
      connected: this.#w.conn.connected,
      blocked: this.#w.conn.blocked,
      connects: this.#w.conn.generation,
      checkpoint: this.#checkpoint,
      published: this.#published,
      lastError: this.#lastError ?? this.#w.conn.lastError,
    };
  }

  get #stopped(): boolean {
    return this.#w.stop.signal.aborted;
  }

  async #loop(): Promise<void> {
    let attempt = 0;
    while (!this.#stopped) {
      try {
        const session = await this.#becomeLeader();
        if (!session) break;
        attempt = 0;
        try {
          await this.#lead(session);
        } finally {
          this.#session = null;
          await session.close();
        }
      } catch (err) {
        this.#fail(err, 'relay: leadership session failed');
        await sleep(backoffDelay(attempt++, this.#w.backoff), this.#w.stop.signal);
      }
    }
  }

  /** Opens a session and polls the lock until it is ours (null when stopped). */
  async #becomeLeader(): Promise<RelaySession | null> {
    const session = await RelaySession.open(this.#opts.databaseUrl, this.#opts.schema, this.#opts.name);
    this.#session = session;
    let announced = false;
    const wake = AbortSignal.any([this.#w.stop.signal, session.signal]); // once: each any() stays registered on its sources
    try {
      while (!this.#stopped && !session.lost) {
        if (await session.tryLead()) {
          this.#w.log.info('relay: leading');
          return session;
        }
        if (!announced) this.#w.log.info('relay: standby, another relay leads');
        announced = true;
        await sleep(this.#opts.standbyPollMs, wake);
      }
    } catch (err) {
      this.#session = null;
      await session.close();
      throw err;
    }
    this.#session = null;
    await session.close();
    if (!this.#stopped) throw new Error('leadership session lost while standing by');
    return null;
  }

  /** Publishes while this session leads; returns when stopped or when leadership is lost. */
  async #lead(session: RelaySession): Promise<void> {
    const until = AbortSignal.any([this.#w.stop.signal, session.signal]);
    const pinger = setInterval(() => void session.ping().catch(() => undefined), 5000);
    try {
      while (!until.aborted) {
        try {
          // First, so that a retry without backoff (below) always waits here while disconnected.
          const model = await this.#w.conn.ready(until);
          if (!model) break;
          // Always restart from the stored checkpoint: it is the only position known to be confirmed.
          this.#checkpoint = await session.readCheckpoint();
          const ch = await model.createConfirmChannel();
          await this.#pump(session, ch, until);
        } catch (err) {
          if (session.lost) return;
          this.#fail(err, 'relay: publishing interrupted; retrying from the checkpoint');
          // The connection is gone: it reconnects with its own backoff and ready() above waits for
          // that. A second backoff here would only add to the wait once the broker is back.
          if (!this.#w.conn.connected) continue;
          await sleep(backoffDelay(this.#failures++, this.#w.backoff), until);
        }
      }
    } finally {
      clearInterval(pinger);
    }
  }

  /**
   * Follows the log on one confirm channel until stopped or leadership is lost; throws on any
   * publishing failure, including the channel closing.
   */
  async #pump(session: RelaySession, ch: ConfirmChannel, until: AbortSignal): Promise<void> {
    const returned = new Set<string>();
    let channelError: Error | null = null;
    const channelClosed = new AbortController();
    ch.on('error', (err: Error) => {
      channelError = err;
      this.#w.log.warn({ err: err.message }, 'relay: channel error');
    });
    ch.on('close', () => channelClosed.abort());
    // The broker acks an unroutable message after returning it: the return is the only failure signal.
    ch.on('return', (msg: Message) => {
      const id: unknown = msg.properties.messageId;
      if (typeof id === 'string') returned.add(id);
    });

    this.#confirmedThrough = this.#checkpoint;
    this.#unwritten = 0;
    this.#checkpointError = null;
    const sub = this.#store.subscribeToAll({ after: this.#checkpoint ?? 0n, readIntervalMs: this.#opts.lingerMs });
    const stopSub = (): void => void sub.stop();
    const interrupt = AbortSignal.any([until, channelClosed.signal]);
    interrupt.addEventListener('abort', stopSub, { once: true });
    try {
      const batches = batchesOf(sub, this.#opts.batchSize, this.#opts.lingerMs);
      for await (const batch of batches) {
        if (this.#w.conn.blocked) await this.#w.conn.unblocked(until);
        if (until.aborted || channelClosed.signal.aborted) break;
        returned.clear();
        await this.#publishBatch(session, ch, batch, returned);
      }
      if (channelClosed.signal.aborted && !until.aborted) {
        throw new Error(`relay channel closed${channelError ? `: ${(channelError as Error).message}` : ''}`);
      }
    } finally {
      interrupt.removeEventListener('abort', stopSub);
      // What was confirmed is written before anything else may lead or this pump restarts (which
      // reads the checkpoint back); a failure here only means more re-published messages.
      if (this.#checkpointTimer) clearTimeout(this.#checkpointTimer);
      this.#checkpointTimer = null;
      await this.#writeCheckpoint(session);
      await sub.stop();
      if (!channelClosed.signal.aborted) await ch.close().catch(() => undefined);
    }
  }

  async #publishBatch(session: RelaySession, ch: ConfirmChannel, batch: RecordedEvent[], returned: Set<string>): Promise<void> {
    const { exchange } = this.#w.conn.topology;
    if (this.#unwritten > 0 && this.#unwritten + batch.length > this.#opts.batchSize) await this.#writeCheckpoint(session);
    if (this.#checkpointError !== null) throw this.#checkpointError;
    const { confirmed, confirmError } = await publishConfirmed(ch, exchange, batch);
    let ok = 0;
    while (ok < batch.length && confirmed[ok] === true && !returned.has(batch[ok]!.id)) ok++;
    if (ok > 0) {
      this.#confirmedThrough = batch[ok - 1]!.position;
      this.#published += ok;
      this.#unwritten += ok;
      if (this.#unwritten >= Math.min(UNWRITTEN_MAX, this.#opts.batchSize)) await this.#writeCheckpoint(session);
      else this.#checkpointSoon(session);
    }
    if (ok === batch.length) {
      this.#failures = 0;
      this.#lastError = null;
    }
    if (ok < batch.length) {
      const failed = batch[ok]!;
      const why = returned.has(failed.id)
        ? `unroutable (returned by the broker): no queue bound for routing key ${failed.type}`
        : confirmError
          ? `not confirmed: ${errorText(confirmError)}`
          : 'not confirmed (nacked by the broker)';
      throw new PublishIncompleteError(`event at position ${failed.position} ${why}; ${batch.length - ok} of ${batch.length} will be retried`);
    }
  }

  /** Writes the checkpoint once `checkpointEveryMs` has passed since the last write. */
  #checkpointSoon(session: RelaySession): void {
    if (this.#checkpointTimer) return;
    const wait = Math.max(0, this.#lastCheckpointAt + this.#opts.checkpointEveryMs - performance.now());
    this.#checkpointTimer = setTimeout(() => {
      this.#checkpointTimer = null;
      void this.#writeCheckpoint(session);
    }, wait);
  }

  /** Writes what is confirmed as the checkpoint, after any write in flight; never throws (see #checkpointError). */
  #writeCheckpoint(session: RelaySession): Promise<void> {
    this.#checkpointWrite = this.#checkpointWrite.then(async () => {
      const to = this.#confirmedThrough;
      const from = this.#checkpoint ?? 0n;
      const count = this.#unwritten;
      if (to === null || to <= from || this.#checkpointError !== null) return;
      this.#lastCheckpointAt = performance.now();
      try {
        await session.advance(from, to);
        this.#checkpoint = to;
        this.#unwritten -= count;
      } catch (err) {
        this.#checkpointError = err;
      }
    });
    return this.#checkpointWrite;
  }

  #fail(err: unknown, msg: string): void {
    this.#lastError = errorText(err);
    const level = err instanceof CheckpointConflictError ? 'error' : 'warn';
    this.#w.log[level]({ err: this.#lastError }, msg);
  }
}
