/**
 * One batch of the projector consumer's deliveries, applied through the sink and each delivery
 * settled: acked, requeued, or parked (the failure rules are in consumer.ts's header). The consumer
 * owns the channels and the batching; this only tells which deliveries to hold for a retry.
 */
import { createHash } from 'node:crypto';
import type { Channel, ConsumeMessage } from 'amqplib';
import { parsePublicRecord, type PublicRecord } from '../../projections/ports/public-record.js';
import type { Logger } from '../logger.js';
import { errorText } from '../retry.js';
import type { EventSink } from './event-sink.js';
import { isTransientError } from '../../commands/ports/transient-error.js';

export interface Delivery {
  msg: ConsumeMessage;
  ch: Channel;
}

interface Parsed extends Delivery {
  record: PublicRecord;
}

/** The consumer's counters, shared with it: status() reports them. */
export interface ConsumerCounts {
  /** Records the sink accepted (including ones it recognized as duplicates). */
  applied: number;
  requeued: number;
  parked: number;
  lastError: string | null;
}

export interface BatchHandlerOptions {
  sink: EventSink;
  log: Logger;
  deliveryLimit: number;
  /** Consuming the dead-letter queue: nothing is requeued, a failure is parked at once. */
  deadLetters: boolean;
  counts: ConsumerCounts;
  /** False once the delivery's channel closed: its deliveries went back to the queue. */
  live(ch: Channel): boolean;
}

export class BatchHandler {
  readonly #o: BatchHandlerOptions;
  readonly #sink: EventSink;
  readonly #log: Logger;
  readonly #counts: ConsumerCounts;

  constructor(opts: BatchHandlerOptions) {
    this.#o = opts;
    this.#sink = opts.sink;
    this.#log = opts.log;
    this.#counts = opts.counts;
  }

  #live(ch: Channel): boolean {
    return this.#o.live(ch);
  }

  /** Applies one batch; returns the deliveries to retry later (transient failures). */
  async handle(batch: Delivery[]): Promise<Delivery[]> {
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
      this.#counts.lastError = errorText(err);
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
    this.#counts.lastError = errorText(error);
    if (!this.#o.deadLetters && previous < this.#o.deliveryLimit - 1) {
      this.#log.warn({ eventId: p.record.id, position: p.record.position, attempt: previous + 1, err: this.#counts.lastError }, 'consumer: record failed; requeued');
      this.#counts.requeued += 1;
      this.#requeue(p);
      return false;
    }
    this.#log.error({ eventId: p.record.id, position: p.record.position, attempts: previous + 1, err: this.#counts.lastError }, 'consumer: record failed too often; parking it');
    return this.#park(p, p.record, error);
  }

  /** Parks through the sink and acks. True when the park itself hit a transient failure. */
  async #park(d: Delivery, record: PublicRecord, error: unknown): Promise<boolean> {
    try {
      await this.#sink.park(record, error, this.#attemptsBefore(d.msg) + 1);
    } catch (err) {
      this.#counts.lastError = errorText(err);
      // The dead-letter queue is the last stop: keep the message and retry rather than requeue it in a hot loop.
      if (isTransientError(err) || this.#o.deadLetters) return true;
      // Cannot keep it ourselves: leave it to the queue's delivery limit and dead-letter exchange.
      this.#log.error({ eventId: record.id, err: this.#counts.lastError }, 'consumer: parking failed; leaving it to the broker dead-letter queue');
      this.#requeue(d);
      return false;
    }
    this.#counts.parked += 1;
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
        this.#counts.applied += list.length;
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
      if (applied) this.#counts.applied += 1;
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
