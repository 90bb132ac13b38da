/**
 * Spreads the partition queues (topology.ts, PROJECTOR_PARTITIONS > 1) over the projector processes.
 *
 * Every projector consumes every partition; each partition queue has x-single-active-consumer, so the
 * broker feeds it to one consumer at a time, in order, and activates a waiting one the moment the
 * active one's channel or connection goes away: a killed projector's partitions move to the others
 * without anyone deciding. RabbitMQ 3.10 activates consumers in the order they registered and never
 * rebalances, so the first projector would keep every partition. Hence this loop, in each process:
 * every `intervalMs` it counts the projectors and the
 * partitions it is active on (a delivery within the last two intervals: an idle partition needs no
 * owner), and when it holds more than its fair share, ceil(P / projectors), it hands the surplus on
 * (ProjectorConsumer.rejoin: finish the batch in hand, close that channel, register again at the
 * back of the line). The next waiting projector becomes active there.
 *
 * Counting the projectors: each one publishes a heartbeat every interval to a fanout exchange
 * (`<prefix>.projector.heartbeat`) and hears everyone's on an exclusive queue of its own; a projector
 * is counted while its heartbeat was heard within the last 2.5 intervals. The consumer count of a
 * quorum queue cannot be used for this: when a RabbitMQ node dies (kill -9), the consumers of the
 * connections it held stay counted ("suspected down") until that node returns, so the projectors
 * would see twice their number, each aim at half its fair share, and hand partitions back and forth
 * for as long as the node stays down (test/cluster/topology-faults.test.ts). Each still holds a
 * consumer on `<prefix>.projector.members` (the queue a single-active-consumer queue's count cannot
 * stand in for), as earlier releases did.
 */
import { randomUUID } from 'node:crypto';
import type { Channel, ChannelModel } from 'amqplib';
import type { Logger } from '../logger.js';
import { errorText } from '../retry.js';
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
  #heartbeatChannel: Channel | null = null;
  readonly #id = randomUUID();
  /** Projector id → when its heartbeat was last heard. */
  readonly #heard = new Map<string, number>();
  #listening = false;

  constructor(opts: PartitionBalancerOptions) {
    this.#o = { intervalMs: 2000, ...opts };
    this.#log = opts.logger.child({ component: 'partition-balancer' });
  }

  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#unsubscribe = this.#o.connection.onConnected((model, generation) => void this.#join(model, generation));
    this.#timer = setInterval(() => {
      this.#beat();
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
    await this.#heartbeatChannel?.close().catch(() => undefined);
  }

  get #heartbeatExchange(): string {
    return `${this.#o.connection.topology.membersQueue.replace(/\.members$/, '')}.heartbeat`;
  }

  /** Hears every projector's heartbeat on an exclusive queue (on this connection's node: it goes with it). */
  async #listen(model: ChannelModel): Promise<void> {
    const ch = await model.createChannel();
    ch.on('error', (err: Error) => this.#log.warn({ err: err.message }, 'partitions: heartbeat channel error'));
    ch.on('close', () => {
      if (this.#heartbeatChannel === ch) this.#heartbeatChannel = null;
    });
    await ch.assertExchange(this.#heartbeatExchange, 'fanout', { durable: false });
    const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    await ch.bindQueue(queue, this.#heartbeatExchange, '');
    await ch.consume(queue, (msg) => {
      if (msg) this.#heard.set(msg.content.toString('utf8'), Date.now());
    }, { noAck: true });
    this.#heartbeatChannel = ch;
    this.#beat();
  }

  #beat(): void {
    this.#heard.set(this.#id, Date.now());
    if (!this.#heartbeatChannel && !this.#listening && !this.#stopped && this.#o.connection.connected) {
      // Its channel failed on a live connection (a reconnect listens again by itself).
      this.#listening = true;
      void this.#o.connection.ready().then((m) => m && this.#listen(m))
        .catch((err: unknown) => this.#log.warn({ err: errorText(err) }, 'partitions: could not listen for heartbeats'))
        .finally(() => (this.#listening = false));
    }
    try {
      this.#heartbeatChannel?.publish(this.#heartbeatExchange, '', Buffer.from(this.#id));
    } catch {
      // the channel is closing: the next connection listens and beats again
    }
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
      if (!this.#heartbeatChannel && !this.#listening) {
        this.#listening = true;
        await this.#listen(model).finally(() => (this.#listening = false));
      }
      if (this.#stopped) {
        await ch.close().catch(() => undefined);
        await this.#heartbeatChannel?.close().catch(() => undefined);
      }
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

  /**
   * The projectors: the smaller of two counts that each overstate it in one case. Heartbeats heard
   * lately (this one's included) still count a killed projector for 2.5 intervals; the members queue's
   * consumers count those of a dead node's connections until it returns. Null before this one listens.
   */
  async #projectors(): Promise<number | null> {
    if (!this.#heartbeatChannel) return null;
    const since = Date.now() - this.#o.intervalMs * 2.5;
    for (const [id, at] of this.#heard) if (at < since && id !== this.#id) this.#heard.delete(id);
    const members = await this.#memberCount();
    return members === null ? this.#heard.size : Math.max(1, Math.min(members, this.#heard.size));
  }

  /** Consumers on the members queue: one per projector process, and stale ones (null when unknown). */
  async #memberCount(): Promise<number | null> {
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
