/**
 * Spreads the partition queues (topology.ts, PROJECTOR_PARTITIONS > 1) over the projector processes.
 *
 * Every projector consumes every partition; each partition queue has x-single-active-consumer, so the
 * broker feeds it to one consumer at a time, in order, and activates a waiting one the moment the
 * active one's channel or connection goes away: a killed projector's partitions move to the others
 * without anyone deciding. RabbitMQ 3.10 activates consumers in the order they registered and never
 * rebalances, so the first projector would keep every partition. Hence this loop, in each process:
 * every `intervalMs` it counts the projectors (each holds one consumer on `<prefix>.projector.members`,
 * a queue that never gets a message: a single-active-consumer queue's count shows only its active
 * consumer) and the
 * partitions it is active on (a delivery within the last two intervals: an idle partition needs no
 * owner), and when it holds more than its fair share, ceil(P / projectors), it hands the surplus on
 * (ProjectorConsumer.rejoin: finish the batch in hand, close that channel, register again at the
 * back of the line). The next waiting projector becomes active there.
 */
import type { Channel, ChannelModel } from 'amqplib';
import type { Logger } from '../logger.js';
import { errorText } from './backoff.js';
import type { BrokerConnection } from './connection.js';
import type { ProjectorConsumer } from './consumer.js';

export interface PartitionBalancerOptions {
  connection: BrokerConnection;
  consumers: ProjectorConsumer[];
  logger: Logger;
  /** Default 2000 ms. */
  intervalMs?: number;
}

export class PartitionBalancer {
  readonly #o: Required<PartitionBalancerOptions>;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;
  #unsubscribe: (() => void) | null = null;
  #memberChannel: Channel | null = null;

  constructor(opts: PartitionBalancerOptions) {
    this.#o = { intervalMs: 2000, ...opts };
    this.#log = opts.logger.child({ component: 'partition-balancer' });
  }

  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#unsubscribe = this.#o.connection.onConnected((model, generation) => void this.#join(model, generation));
    this.#timer = setInterval(() => {
      if (!this.#running) this.#running = this.#balance().finally(() => (this.#running = null));
    }, this.#o.intervalMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#unsubscribe?.();
    await this.#running;
    await this.#memberChannel?.close().catch(() => undefined);
  }

  /** Registers this process as a member (a consumer on the members queue) on every connection. */
  async #join(model: ChannelModel, generation: number): Promise<void> {
    if (this.#stopped || generation !== this.#o.connection.generation) return;
    try {
      const ch = await model.createChannel();
      ch.on('error', (err: Error) => this.#log.warn({ err: err.message }, 'partitions: members channel error'));
      ch.on('close', () => {
        if (this.#memberChannel === ch) this.#memberChannel = null;
        // A channel-level failure on a live connection: join again (a reconnect calls #join itself).
        setTimeout(() => {
          if (!this.#stopped && !this.#memberChannel && this.#o.connection.generation === generation && this.#o.connection.connected) {
            void this.#o.connection.ready().then((m) => m && this.#join(m, generation));
          }
        }, 1000).unref();
      });
      await ch.consume(this.#o.connection.topology.membersQueue, () => undefined, { noAck: true });
      this.#memberChannel = ch;
      if (this.#stopped) await ch.close().catch(() => undefined);
    } catch (err) {
      this.#log.warn({ err: errorText(err) }, 'partitions: could not register as a projector');
    }
  }

  /** Partitions this process is active on now. */
  active(): string[] {
    return this.#o.consumers.filter((c) => c.activeWithin(this.#o.intervalMs * 2)).map((c) => c.queue);
  }

  async #balance(): Promise<void> {
    const active = this.#o.consumers.filter((c) => c.activeWithin(this.#o.intervalMs * 2));
    if (active.length <= 1 || this.#stopped) return;
    const projectors = await this.#projectors();
    if (projectors === null || this.#stopped) return;
    const fair = Math.ceil(this.#o.consumers.length / Math.max(1, projectors));
    const surplus = active.slice(fair);
    if (surplus.length === 0) return;
    this.#log.info({ projectors, fair, active: active.length, handing: surplus.map((c) => c.queue) }, 'partitions: handing the surplus to other projectors');
    await Promise.all(surplus.map((c) => c.rejoin()));
  }

  /** Consumers on the members queue: one per projector process (null when unknown). */
  async #projectors(): Promise<number | null> {
    const model = this.#o.connection.connected ? await this.#o.connection.ready() : null;
    if (!model) return null;
    try {
      const ch = await model.createChannel();
      ch.on('error', () => undefined);
      try {
        return (await ch.checkQueue(this.#o.connection.topology.membersQueue)).consumerCount;
      } finally {
        await ch.close().catch(() => undefined);
      }
    } catch (err) {
      this.#log.warn({ err: errorText(err) }, 'partitions: could not count the projectors');
      return null;
    }
  }
}
