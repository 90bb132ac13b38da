/**
 * The projector transport: `<prefix>.projector` → an EventSink, with exactly-once effect.
 *
 * At least once from the broker, at most once in the read model: a message is acked only after the
 * sink committed it together with its inbox entry, so a crash before the ack redelivers it and the
 * sink drops the duplicate. Deliveries are gathered into batches (batchSize, or what arrived within
 * lingerMs), one batch at a time; prefetch bounds how many wait unacked meanwhile.
 *
 * Failures:
 * - a body that is not a valid public record (parsePublicRecord) is poison from the start: parked
 *   with its error and acked at once;
 * - a record that fails to apply is nacked with requeue while x-delivery-count (the quorum queue's
 *   counter) is below deliveryLimit - 1, and on the last allowed attempt parked through the sink and
 *   acked, so its error text is kept next to it. The queue's own x-delivery-limit stays a backstop
 *   (crash loops, a failing park) and dead-letters to `<prefix>.projector.dead`, which a second
 *   consumer in dead-letter mode (option deadLetters) replays into the same sink;
 * - an infrastructure failure (database down, deadlock; see commands/ports/transient-error.ts) is not the record's
 *   fault: the batch is held, unacked and uncounted, and retried with backoff.
 * On connection loss, unacked deliveries are dropped locally (the broker requeues them) and consuming
 * resumes when the connection helper reconnects. RabbitMQ 3.x counts such a return in
 * x-delivery-count like a failed attempt (measured on 3.10), so every loss spends one attempt of each
 * message unacked at that moment (at most prefetch of them); what the broker dead-letters for that
 * reason is applied from the dead-letter queue (docs/scaling.md).
 *
 * This file holds the channel and the batching; consumer-batch.ts applies a batch and settles each delivery.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../logger.js';
import { FOREVER, backoffDelay, errorText, retry } from '../retry.js';
import type { BrokerConnection } from './connection.js';
import { BatchHandler, type ConsumerCounts, type Delivery } from './consumer-batch.js';
import type { EventSink } from './event-sink.js';
import { assertTopology } from './topology.js';
import { brokerWorker, type BrokerWorker } from './worker.js';

export interface ProjectorConsumerOptions {
  connection: BrokerConnection;
  sink: EventSink;
  logger: Logger;
  prefetch: number;
  batchSize: number;
  deliveryLimit: number;
  /**
   * How long the first delivery of a batch waits for company. Default 100 ms: a batch's fixed cost
   * (its transaction, lock, inbox and checkpoint statements, about a dozen round trips) dominates at
   * live rates, and bench:projector measured 674 µs of CPU per event in batches of 20 against 212 µs in
   * batches of 200. A read model then trails by about this much more, well inside the 1 s lag target.
   */
  lingerMs?: number;
  /** Queue to consume; default the topology's projector queue (or its dead-letter queue, below). */
  queue?: string;
  /**
   * Consume `<prefix>.projector.dead`: what the broker dead-lettered after x-delivery-limit. On
   * RabbitMQ 3.x that is mostly good records whose attempts were spent by lost connections, so they
   * are applied like any other (the sink's inbox drops the ones already applied); only a record that
   * fails in the application is parked, at its first failure (its attempts are spent). Nothing is
   * ever requeued or dropped here: a failing park holds the batch and retries, so the message stays
   * in the queue until it is applied or parked.
   */
  deadLetters?: boolean;
  /**
   * Backoff of a batch held while the sink is unavailable, and of a consumer setup that failed on a
   * live connection (after a broker restart the queue may not take consumers for a moment). Defaults
   * 100 ms and 1000 ms: a retry is cheap, and each second of backoff is a second of lag once the
   * cause is gone. A lost connection is waited out by the connection, not here.
   */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Upper bound for stop() to finish the batch in hand. Default 10 s. */
  stopTimeoutMs?: number;
}

export interface ProjectorConsumerStatus {
  consuming: boolean;
  connected: boolean;
  /** Successful broker connects so far; above 1 means it reconnected. */
  connects: number;
  /** Records the sink accepted (including ones it recognized as duplicates). */
  applied: number;
  requeued: number;
  parked: number;
  lastError: string | null;
}

export class ProjectorConsumer {
  readonly #o: Required<Omit<ProjectorConsumerOptions, 'connection' | 'sink' | 'logger' | 'retryMinMs' | 'retryMaxMs'>>;
  readonly #w: BrokerWorker;
  readonly #batches: BatchHandler;
  #channel: Channel | null = null;
  #consumerTag: string | null = null;
  readonly #closedChannels = new WeakSet<Channel>();
  #buffer: Delivery[] = [];
  #linger: NodeJS.Timeout | null = null;
  #processing: Promise<void> | null = null;
  #setupAttempt = 0;
  /** A setup is between createChannel and consume: a second one would open a second consumer. */
  #settingUp = false;
  #setupTimer: NodeJS.Timeout | null = null;
  #unsubscribe: (() => void) | null = null;
  readonly #counts: ConsumerCounts = { applied: 0, requeued: 0, parked: 0, lastError: null };
  /** When the last delivery arrived (0: none since this channel opened); tells an active single-active consumer from a waiting one. */
  #lastDeliveryAt = 0;
  /** rejoin() in progress: finish the batch in hand, take no new one, close the channel. */
  #rejoining = false;

  constructor(opts: ProjectorConsumerOptions) {
    this.#o = {
      prefetch: opts.prefetch,
      batchSize: opts.batchSize,
      deliveryLimit: opts.deliveryLimit,
      lingerMs: opts.lingerMs ?? 100,
      deadLetters: opts.deadLetters ?? false,
      queue: opts.queue ?? (opts.deadLetters ? opts.connection.topology.deadLetterQueue : opts.connection.topology.projectorQueue),
      stopTimeoutMs: opts.stopTimeoutMs ?? 10_000,
    };
    this.#w = brokerWorker(opts, { component: 'projector-consumer', queue: this.#o.queue });
    this.#batches = new BatchHandler({
      sink: opts.sink,
      log: this.#w.log,
      deliveryLimit: this.#o.deliveryLimit,
      deadLetters: this.#o.deadLetters,
      counts: this.#counts,
      live: (ch) => this.#live(ch),
    });
  }

  /** Consumes now and after every reconnect. */
  start(): void {
    if (this.#unsubscribe || this.#stopping) return;
    this.#unsubscribe = this.#w.conn.onConnected((model, generation) => void this.#setup(model, generation));
  }

  /** Cancels the consumer, finishes the deliveries in hand (bounded), then closes the channel. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#w.stop.abort();
    this.#unsubscribe?.();
    if (this.#setupTimer) clearTimeout(this.#setupTimer);
    const ch = this.#channel;
    if (ch && this.#consumerTag && this.#live(ch)) await ch.cancel(this.#consumerTag).catch(() => undefined);
    if (this.#linger) clearTimeout(this.#linger);
    this.#kick();
    const finished = this.#processing ?? Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([finished, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#o.stopTimeoutMs)))]);
    clearTimeout(timer);
    this.#channel = null;
    // Whatever is still unacked goes back to the queue when the channel closes.
    if (ch && this.#live(ch)) await ch.close().catch(() => undefined);
  }

  /** The queue this consumer reads. */
  get queue(): string {
    return this.#o.queue;
  }

  /** Whether a delivery arrived within the last `withinMs`: on a single-active-consumer queue, we are its active consumer. */
  activeWithin(withinMs: number): boolean {
    return this.#lastDeliveryAt > 0 && Date.now() - this.#lastDeliveryAt <= withinMs;
  }

  /**
   * Hands the queue on: finishes the batch in hand, closes the channel (what is still unacked goes
   * back, in order, to the next consumer the broker activates) and consumes again after the usual
   * setup backoff, now behind the other consumers of a single-active-consumer queue.
   */
  async rejoin(): Promise<void> {
    const ch = this.#channel;
    if (this.#stopping || this.#rejoining || !ch || !this.#live(ch)) return;
    this.#rejoining = true;
    try {
      if (this.#linger) clearTimeout(this.#linger);
      this.#linger = null;
      await (this.#processing ?? Promise.resolve());
      this.#lastDeliveryAt = 0;
      this.#w.log.info('consumer: handing the queue to the next consumer');
      if (this.#live(ch)) await ch.close().catch(() => undefined);
    } finally {
      this.#rejoining = false;
    }
  }

  status(): ProjectorConsumerStatus {
    return {
      consuming: this.#channel !== null && this.#live(this.#channel),
      connected: this.#w.conn.connected,
      connects: this.#w.conn.generation,
      applied: this.#counts.applied,
      requeued: this.#counts.requeued,
      parked: this.#counts.parked,
      lastError: this.#counts.lastError,
    };
  }

  get #stopping(): boolean {
    return this.#w.stop.signal.aborted;
  }

  #live(ch: Channel): boolean {
    return !this.#closedChannels.has(ch);
  }

  async #setup(model: ChannelModel, generation: number): Promise<void> {
    if (this.#stopping || generation !== this.#w.conn.generation) return;
    if (this.#settingUp || (this.#channel && this.#live(this.#channel))) return; // already (becoming) consuming
    this.#settingUp = true;
    let ch: Channel | null = null;
    try {
      // The connection declared everything before calling us; a retry (the queue deleted under us, a
      // failed consume) declares it again, so consuming recreates it. Not on every setup: with
      // partitions every consumer would declare all P queues.
      if (this.#setupAttempt > 0) await assertTopology(model, this.#w.conn.topology);
      ch = await model.createChannel();
      const own = ch;
      own.on('error', (err: Error) => {
        this.#counts.lastError = err.message;
        this.#w.log.warn({ err: err.message }, 'consumer: channel error');
      });
      own.on('close', () => this.#onChannelClosed(own, generation));
      await own.prefetch(this.#o.prefetch);
      this.#channel = own;
      const { consumerTag } = await own.consume(this.#o.queue, (msg) => this.#onMessage(own, msg), { noAck: false });
      this.#consumerTag = consumerTag;
      this.#setupAttempt = 0;
      this.#w.log.info({ generation, prefetch: this.#o.prefetch }, 'consumer: consuming');
      if (this.#stopping) await own.cancel(consumerTag).catch(() => undefined);
    } catch (err) {
      this.#counts.lastError = errorText(err);
      this.#w.log.warn({ err: this.#counts.lastError }, 'consumer: could not start consuming');
      if (ch && this.#live(ch)) await ch.close().catch(() => undefined);
      this.#scheduleSetup();
    } finally {
      this.#settingUp = false;
    }
  }

  #onChannelClosed(ch: Channel, generation: number): void {
    this.#closedChannels.add(ch);
    // Its unacked deliveries return to the queue; acking them on a later channel would be an error.
    this.#buffer = this.#buffer.filter((d) => d.ch !== ch);
    if (this.#channel === ch) {
      this.#channel = null;
      this.#consumerTag = null;
      this.#lastDeliveryAt = 0;
    }
    if (!this.#stopping) {
      this.#w.log.warn({ generation }, 'consumer: channel closed');
      // A channel-level failure on a live connection: nobody else will reopen it.
      this.#scheduleSetup();
    }
  }

  /**
   * Retries setup after a backoff on whatever connection is live then. onConnected also calls #setup
   * after a reconnect; whichever comes second finds a consuming channel and does nothing.
   */
  #scheduleSetup(): void {
    if (this.#stopping || this.#setupTimer) return;
    const delay = backoffDelay(this.#setupAttempt++, this.#w.backoff);
    this.#setupTimer = setTimeout(() => {
      this.#setupTimer = null;
      void this.#w.conn.ready(this.#w.stop.signal).then((model) => {
        if (model) void this.#setup(model, this.#w.conn.generation);
      });
    }, delay);
  }

  #onMessage(ch: Channel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The broker cancelled us (queue deleted or failed over): reopen, which re-declares the queue.
      this.#w.log.warn('consumer: cancelled by the broker');
      void ch.close().catch(() => undefined);
      return;
    }
    this.#lastDeliveryAt = Date.now();
    this.#buffer.push({ msg, ch });
    if (this.#rejoining) return; // returned to the queue when the channel closes
    if (this.#buffer.length >= this.#o.batchSize) this.#kick();
    else if (!this.#linger) this.#linger = setTimeout(() => this.#kick(), this.#o.lingerMs);
  }

  #kick(): void {
    if (this.#linger) {
      clearTimeout(this.#linger);
      this.#linger = null;
    }
    if (this.#processing) return; // the running drain picks up what arrived meanwhile
    this.#processing = this.#drain().finally(() => {
      this.#processing = null;
      if (this.#buffer.length > 0 && !this.#stopping && !this.#rejoining) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (this.#buffer.length > 0 && !this.#rejoining) {
      let held = this.#buffer.splice(0, this.#o.batchSize);
      // Until every delivery of the batch is applied or parked (or its channel is gone), with backoff;
      // stop() ends the wait, and what is still held is requeued when the channel closes.
      await retry(async () => {
        try {
          held = await this.#batches.handle(held);
        } catch (err) {
          // handle() only throws on a bug in ours; keep the messages and retry rather than lose them.
          this.#counts.lastError = errorText(err);
          this.#w.log.error({ err: this.#counts.lastError }, 'consumer: batch handling failed');
        }
        held = held.filter((d) => this.#live(d.ch));
        if (held.length > 0 && !this.#stopping) throw new Error(`${held.length} deliveries held`);
      }, {
        ...FOREVER, minTimeout: this.#w.backoff.minMs, maxTimeout: this.#w.backoff.maxMs, signal: this.#w.stop.signal,
        onFailedAttempt: () => this.#w.log.warn({ held: held.length, err: this.#counts.lastError }, 'consumer: sink unavailable; holding the batch'),
      }).catch(() => undefined);
      if (held.length > 0) return; // stopping: unacked, requeued when the channel closes
    }
  }
}
