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
 */
import { createHash } from 'node:crypto';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { parsePublicRecord, type PublicRecord } from '../../projections/ports/public-record.js';
import type { Logger } from '../logger.js';
import { FOREVER, backoffDelay, errorText, retry } from '../retry.js';
import type { BrokerConnection } from './connection.js';
import type { EventSink } from './event-sink.js';
import { assertTopology } from './topology.js';
import { isTransientError } from '../../commands/ports/transient-error.js';

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

interface Delivery {
  msg: ConsumeMessage;
  ch: Channel;
}

interface Parsed extends Delivery {
  record: PublicRecord;
}

export class ProjectorConsumer {
  readonly #o: Required<Omit<ProjectorConsumerOptions, 'connection' | 'sink' | 'logger'>>;
  readonly #conn: BrokerConnection;
  readonly #sink: EventSink;
  readonly #log: Logger;
  readonly #stop = new AbortController();
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
  #applied = 0;
  #requeued = 0;
  #parked = 0;
  #lastError: string | null = null;
  /** When the last delivery arrived (0: none since this channel opened); tells an active single-active consumer from a waiting one. */
  #lastDeliveryAt = 0;
  /** rejoin() in progress: finish the batch in hand, take no new one, close the channel. */
  #rejoining = false;

  constructor(opts: ProjectorConsumerOptions) {
    this.#conn = opts.connection;
    this.#sink = opts.sink;
    this.#o = {
      prefetch: opts.prefetch,
      batchSize: opts.batchSize,
      deliveryLimit: opts.deliveryLimit,
      lingerMs: opts.lingerMs ?? 100,
      deadLetters: opts.deadLetters ?? false,
      queue: opts.queue ?? (opts.deadLetters ? opts.connection.topology.deadLetterQueue : opts.connection.topology.projectorQueue),
      retryMinMs: opts.retryMinMs ?? 100,
      retryMaxMs: opts.retryMaxMs ?? 1000,
      stopTimeoutMs: opts.stopTimeoutMs ?? 10_000,
    };
    this.#log = opts.logger.child({ component: 'projector-consumer', queue: this.#o.queue });
  }

  /** Consumes now and after every reconnect. */
  start(): void {
    if (this.#unsubscribe || this.#stopping) return;
    this.#unsubscribe = this.#conn.onConnected((model, generation) => void this.#setup(model, generation));
  }

  /** Cancels the consumer, finishes the deliveries in hand (bounded), then closes the channel. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stop.abort();
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
      this.#log.info('consumer: handing the queue to the next consumer');
      if (this.#live(ch)) await ch.close().catch(() => undefined);
    } finally {
      this.#rejoining = false;
    }
  }

  status(): ProjectorConsumerStatus {
    return {
      consuming: this.#channel !== null && this.#live(this.#channel),
      connected: this.#conn.connected,
      connects: this.#conn.generation,
      applied: this.#applied,
      requeued: this.#requeued,
      parked: this.#parked,
      lastError: this.#lastError,
    };
  }

  get #stopping(): boolean {
    return this.#stop.signal.aborted;
  }

  #live(ch: Channel): boolean {
    return !this.#closedChannels.has(ch);
  }

  async #setup(model: ChannelModel, generation: number): Promise<void> {
    if (this.#stopping || generation !== this.#conn.generation) return;
    if (this.#settingUp || (this.#channel && this.#live(this.#channel))) return; // already (becoming) consuming
    this.#settingUp = true;
    let ch: Channel | null = null;
    try {
      // The connection declared everything before calling us; a retry (the queue deleted under us, a
      // failed consume) declares it again, so consuming recreates it. Not on every setup: with
      // partitions every consumer would declare all P queues.
      if (this.#setupAttempt > 0) await assertTopology(model, this.#conn.topology);
      ch = await model.createChannel();
      const own = ch;
      own.on('error', (err: Error) => {
        this.#lastError = err.message;
        this.#log.warn({ err: err.message }, 'consumer: channel error');
      });
      own.on('close', () => this.#onChannelClosed(own, generation));
      await own.prefetch(this.#o.prefetch);
      this.#channel = own;
      const { consumerTag } = await own.consume(this.#o.queue, (msg) => this.#onMessage(own, msg), { noAck: false });
      this.#consumerTag = consumerTag;
      this.#setupAttempt = 0;
      this.#log.info({ generation, prefetch: this.#o.prefetch }, 'consumer: consuming');
      if (this.#stopping) await own.cancel(consumerTag).catch(() => undefined);
    } catch (err) {
      this.#lastError = errorText(err);
      this.#log.warn({ err: this.#lastError }, 'consumer: could not start consuming');
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
      this.#log.warn({ generation }, 'consumer: channel closed');
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
    const delay = backoffDelay(this.#setupAttempt++, { minMs: this.#o.retryMinMs, maxMs: this.#o.retryMaxMs });
    this.#setupTimer = setTimeout(() => {
      this.#setupTimer = null;
      void this.#conn.ready(this.#stop.signal).then((model) => {
        if (model) void this.#setup(model, this.#conn.generation);
      });
    }, delay);
  }

  #onMessage(ch: Channel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The broker cancelled us (queue deleted or failed over): reopen, which re-declares the queue.
      this.#log.warn('consumer: cancelled by the broker');
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
          held = await this.#handle(held);
        } catch (err) {
          // #handle only throws on a bug in ours; keep the messages and retry rather than lose them.
          this.#lastError = errorText(err);
          this.#log.error({ err: this.#lastError }, 'consumer: batch handling failed');
        }
        held = held.filter((d) => this.#live(d.ch));
        if (held.length > 0 && !this.#stopping) throw new Error(`${held.length} deliveries held`);
      }, {
        ...FOREVER, minTimeout: this.#o.retryMinMs, maxTimeout: this.#o.retryMaxMs, signal: this.#stop.signal,
        onFailedAttempt: () => this.#log.warn({ held: held.length, err: this.#lastError }, 'consumer: sink unavailable; holding the batch'),
      }).catch(() => undefined);
      if (held.length > 0) return; // stopping: unacked, requeued when the channel closes
    }
  }

  /** Applies one batch; returns the deliveries to retry later (transient failures). */
  async #handle(batch: Delivery[]): Promise<Delivery[]> {
    const retry: Delivery[] = [];
    const parsed: Parsed[] = [];
    for (const d of batch) {
      if (!this.#live(d.ch)) continue;
      const record = parseBody(d.msg);
      if (record instanceof Error) {
        this.#log.error({ messageId: d.msg.properties.messageId, err: record.message }, 'consumer: invalid message body; parking it');
        if (await this.#park(d, invalidPlaceholder(d.msg), record)) retry.push(d);
      } else parsed.push({ ...d, record });
    }
    if (parsed.length === 0) return retry;

    let failed: Map<string, unknown>;
    try {
      const result = await this.#sink.applyBatch(parsed.map((p) => p.record));
      failed = new Map((result?.failed ?? []).map((f) => [f.record.id, f.error]));
    } catch (err) {
      this.#lastError = errorText(err);
      if (isTransientError(err)) return [...retry, ...parsed];
      if (parsed.length === 1) failed = new Map([[parsed[0]!.record.id, err]]);
      else return [...retry, ...(await this.#isolate(parsed))];
    }
    const applied: Parsed[] = [];
    for (const p of parsed) {
      const error = failed.get(p.record.id);
      if (failed.has(p.record.id)) {
        if (isTransientError(error) || (await this.#failed(p, error))) retry.push(p);
      } else applied.push(p);
    }
    this.#ackAll(applied, retry);
    return retry;
  }

  /** The batch failed as a whole: apply one by one so only the bad record is retried or parked. */
  async #isolate(parsed: Parsed[]): Promise<Delivery[]> {
    const retry: Delivery[] = [];
    for (const p of parsed) {
      if (!this.#live(p.ch)) continue;
      try {
        const result = await this.#sink.applyBatch([p.record]);
        const f = result?.failed?.[0];
        if (f && (isTransientError(f.error) || (await this.#failed(p, f.error)))) retry.push(p);
        else if (!f) this.#ack(p);
      } catch (err) {
        if (isTransientError(err) || (await this.#failed(p, err))) retry.push(p);
      }
    }
    return retry;
  }

  /** Requeues or, on the last allowed attempt, parks. True when it must be retried (park failed). */
  async #failed(p: Parsed, error: unknown): Promise<boolean> {
    const previous = this.#attemptsBefore(p.msg);
    this.#lastError = errorText(error);
    if (!this.#o.deadLetters && previous < this.#o.deliveryLimit - 1) {
      this.#log.warn({ eventId: p.record.id, position: p.record.position, attempt: previous + 1, err: this.#lastError }, 'consumer: record failed; requeued');
      this.#requeued += 1;
      this.#requeue(p);
      return false;
    }
    this.#log.error({ eventId: p.record.id, position: p.record.position, attempts: previous + 1, err: this.#lastError }, 'consumer: record failed too often; parking it');
    return this.#park(p, p.record, error);
  }

  /** Parks through the sink and acks. True when the park itself hit a transient failure. */
  async #park(d: Delivery, record: PublicRecord, error: unknown): Promise<boolean> {
    try {
      await this.#sink.park(record, error, this.#attemptsBefore(d.msg) + 1);
    } catch (err) {
      this.#lastError = errorText(err);
      // The dead-letter queue is the last stop: keep the message and retry rather than requeue it in a hot loop.
      if (isTransientError(err) || this.#o.deadLetters) return true;
      // Cannot keep it ourselves: leave it to the queue's delivery limit and dead-letter exchange.
      this.#log.error({ eventId: record.id, err: this.#lastError }, 'consumer: parking failed; leaving it to the broker dead-letter queue');
      this.#requeue(d);
      return false;
    }
    this.#parked += 1;
    this.#ack(d, false);
    return false;
  }

  /** Back to the queue; the quorum queue counts it against the delivery limit. */
  #requeue(d: Delivery): void {
    if (!this.#live(d.ch)) return; // the broker requeues it anyway with the channel
    try {
      d.ch.nack(d.msg, false, true);
    } catch (err) {
      this.#log.warn({ err: errorText(err) }, 'consumer: nack failed (channel closing)');
    }
  }

  /**
   * Acks a batch's applied deliveries with one `multiple` ack per channel, up to the highest delivery
   * tag: one frame, and one settlement for the quorum queue, instead of one per message, which is
   * much of the per-message cost of a catch-up. Safe because batches are settled one after another
   * in delivery order: below the highest tag, the only deliveries not yet settled are the ones of
   * this batch held for a retry, and when one is there, each delivery is acked on its own instead.
   */
  #ackAll(applied: Delivery[], held: Delivery[]): void {
    const byChannel = new Map<Channel, Delivery[]>();
    for (const d of applied) {
      if (!this.#live(d.ch)) continue; // redelivered later and recognized as a duplicate by the sink
      const list = byChannel.get(d.ch);
      if (list) list.push(d);
      else byChannel.set(d.ch, [d]);
    }
    for (const [ch, list] of byChannel) {
      let top = list[0]!;
      for (const d of list) if (d.msg.fields.deliveryTag > top.msg.fields.deliveryTag) top = d;
      const tag = top.msg.fields.deliveryTag;
      if (list.length === 1 || held.some((h) => h.ch === ch && h.msg.fields.deliveryTag < tag)) {
        for (const d of list) this.#ack(d);
        continue;
      }
      try {
        ch.ack(top.msg, true);
        this.#applied += list.length;
      } catch (err) {
        this.#log.warn({ err: errorText(err) }, 'consumer: ack failed (channel closing)');
      }
    }
  }

  /**
   * Deliveries before this one. A dead-lettered message spent its attempts on the projector queue
   * (x-death records how often it was dead-lettered; the classic dead-letter queue counts nothing).
   */
  #attemptsBefore(msg: ConsumeMessage): number {
    if (!this.#o.deadLetters) return deliveryCount(msg);
    return this.#o.deliveryLimit * Math.max(1, deathCount(msg));
  }

  #ack(d: Delivery, applied = true): void {
    if (!this.#live(d.ch)) return; // redelivered later and recognized as a duplicate by the sink
    try {
      d.ch.ack(d.msg);
      if (applied) this.#applied += 1;
    } catch (err) {
      this.#log.warn({ err: errorText(err) }, 'consumer: ack failed (channel closing)');
    }
  }
}

/** The quorum queue's count of earlier deliveries (absent on the first one). */
function deliveryCount(msg: ConsumeMessage): number {
  const n: unknown = msg.properties.headers?.['x-delivery-count'];
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : 0;
}

/** How often the broker dead-lettered the message (sum of its x-death counts). */
function deathCount(msg: ConsumeMessage): number {
  const deaths: unknown = msg.properties.headers?.['x-death'];
  if (!Array.isArray(deaths)) return 0;
  let n = 0;
  for (const d of deaths) {
    const c: unknown = (d as { count?: unknown } | null)?.count;
    if (typeof c === 'number' && Number.isInteger(c) && c > 0) n += c;
  }
  return n;
}

function parseBody(msg: ConsumeMessage): PublicRecord | Error {
  let value: unknown;
  try {
    value = JSON.parse(msg.content.toString('utf8'));
  } catch (err) {
    return new Error(`body is not JSON: ${errorText(err)}`);
  }
  return parsePublicRecord(value);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Something the sink can park for a body that is not a record. The id is the message id when it is
 * a UUID, otherwise derived from the body, so a redelivered poison message parks onto the same row.
 */
function invalidPlaceholder(msg: ConsumeMessage): PublicRecord {
  const messageId: unknown = msg.properties.messageId;
  const hex = createHash('sha256').update(msg.content).digest('hex');
  const id =
    typeof messageId === 'string' && UUID.test(messageId)
      ? messageId
      : `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  return {
    id,
    streamId: '$invalid',
    revision: 0,
    position: '0',
    type: msg.fields.routingKey || '$invalid',
    version: 0,
    data: { body: msg.content.toString('utf8').slice(0, 8192), messageId: typeof messageId === 'string' ? messageId : null },
    createdAt: new Date().toISOString(),
  };
}
