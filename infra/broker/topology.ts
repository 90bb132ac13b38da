/**
 * The broker objects of one deployment, all named from its prefix so that tests (and several
 * deployments on one broker) never share a queue:
 *
 *   <prefix>.events           durable topic exchange; the relay publishes with routing key = event type
 *   <prefix>.projector        durable quorum queue bound with '#', explicit delivery limit, dead-letters to
 *   <prefix>.events.dlx       durable fanout exchange, bound to
 *   <prefix>.projector.dead   durable queue holding what the broker itself dead-lettered; the projector
 *                             consumes it too (consumer.ts). Created as a quorum queue, so it survives
 *                             a cluster node; one a release before this created stays classic (on a
 *                             cluster, drain and delete it so the next start re-creates it replicated)
 *
 * With PROJECTOR_PARTITIONS = P > 1 (docs/scaling.md), the single projector queue is replaced by
 *
 *   <prefix>.projector.hash   durable x-consistent-hash exchange (plugin rabbitmq_consistent_hash_exchange),
 *                             bound from <prefix>.events with '#', hashing the `stream` header, so all
 *                             events of a stream (a chat) land in the same partition, in order
 *   <prefix>.projector.p<i>   P durable quorum queues (i = 0..P-1), each bound with weight 1, arguments
 *                             as the projector queue's plus x-single-active-consumer: every projector
 *                             consumes every partition, the broker feeds each partition to one of them
 *   <prefix>.projector.members durable quorum queue bound to nothing: each projector holds a consumer on
 *                             it, so its consumer count is the number of projectors (partitions.ts)
 *
 * Debian's RabbitMQ 3.10 has no default delivery limit on quorum queues: without x-delivery-limit a
 * message that crashes every consumer is redelivered forever, so we always set it. Asserting is
 * idempotent; asserting with different arguments than an existing queue fails with 406
 * PRECONDITION_FAILED, which the connection helper logs and retries (a configuration error).
 */
import type { Channel, ChannelModel } from 'amqplib';

export interface TopologyNames {
  exchange: string;
  projectorQueue: string;
  /** The consistent-hash exchange in front of the partition queues (partitions > 1 only). */
  partitionExchange: string;
  /** Never receives a message; its consumers count the projector processes (partitions > 1 only). */
  membersQueue: string;
  deadLetterExchange: string;
  deadLetterQueue: string;
}

export interface Topology extends TopologyNames {
  deliveryLimit: number;
  /** 1: the single projector queue; more: that many partition queues behind the hash exchange. */
  partitions: number;
}

export function topologyNames(prefix: string): TopologyNames {
  return {
    exchange: `${prefix}.events`,
    projectorQueue: `${prefix}.projector`,
    partitionExchange: `${prefix}.projector.hash`,
    membersQueue: `${prefix}.projector.members`,
    deadLetterExchange: `${prefix}.events.dlx`,
    deadLetterQueue: `${prefix}.projector.dead`,
  };
}

export function topologyFor(prefix: string, deliveryLimit: number, partitions = 1): Topology {
  return { ...topologyNames(prefix), deliveryLimit, partitions };
}

export function partitionQueue(t: TopologyNames, i: number): string {
  return `${t.projectorQueue}.p${i}`;
}

/** The queues the projector consumes (besides the dead-letter queue). */
export function projectorQueues(t: Topology): string[] {
  if (t.partitions <= 1) return [t.projectorQueue];
  return Array.from({ length: t.partitions }, (_, i) => partitionQueue(t, i));
}

/** Arguments of the projector queue; exported so tests and tools declare it identically. */
export function projectorQueueArguments(t: Topology): Record<string, unknown> {
  return {
    'x-queue-type': 'quorum',
    'x-delivery-limit': t.deliveryLimit,
    'x-dead-letter-exchange': t.deadLetterExchange,
  };
}

/**
 * Declares every object; safe to run on each (re)connect and from several processes at once. Works on
 * channels of its own (a passive declare that misses closes its channel), closed before it returns.
 */
export async function assertTopology(model: ChannelModel, t: Topology): Promise<void> {
  const open = async (): Promise<Channel> => {
    const ch = await model.createChannel();
    ch.on('error', () => undefined); // the failing call rejects with the same error
    return ch;
  };
  let ch = await open();
  try {
    await ch.assertExchange(t.exchange, 'topic', { durable: true });
    await ch.assertExchange(t.deadLetterExchange, 'fanout', { durable: true });
    try {
      // Whatever type it has (an older release declared it classic), keep it: redeclaring it as
      // another type fails with 406.
      await ch.checkQueue(t.deadLetterQueue);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 404) throw err;
      ch = await open();
      // No x-delivery-limit: what reaches it is redelivered until applied or parked, never dropped.
      await ch.assertQueue(t.deadLetterQueue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    }
    await declareProjectorQueues(ch, t);
  } finally {
    await ch.close().catch(() => undefined);
  }
}

async function declareProjectorQueues(ch: Channel, t: Topology): Promise<void> {
  await ch.bindQueue(t.deadLetterQueue, t.deadLetterExchange, '');
  if (t.partitions <= 1) {
    await ch.assertQueue(t.projectorQueue, { durable: true, arguments: projectorQueueArguments(t) });
    await ch.bindQueue(t.projectorQueue, t.exchange, '#');
    return;
  }
  // Without the plugin this fails (503 COMMAND_INVALID, unknown exchange type): the connection logs it and retries.
  await ch.assertExchange(t.partitionExchange, 'x-consistent-hash', { durable: true, arguments: { 'hash-header': 'stream' } });
  await ch.assertQueue(t.membersQueue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  const args = { ...projectorQueueArguments(t), 'x-single-active-consumer': true };
  for (const q of projectorQueues(t)) {
    await ch.assertQueue(q, { durable: true, arguments: args });
    await ch.bindQueue(q, t.partitionExchange, '1'); // the routing key is the weight
  }
  await ch.bindExchange(t.partitionExchange, t.exchange, '#');
}

/** Removes every object (tests, decommissioning). Missing objects are not an error. */
export async function deleteTopology(ch: Channel, t: TopologyNames, partitions = 1): Promise<void> {
  for (let i = 0; i < partitions && partitions > 1; i++) await ch.deleteQueue(partitionQueue(t, i));
  if (partitions > 1) await ch.deleteQueue(t.membersQueue);
  if (partitions > 1) await ch.deleteExchange(t.partitionExchange);
  await ch.deleteQueue(t.projectorQueue);
  await ch.deleteQueue(t.deadLetterQueue);
  await ch.deleteExchange(t.exchange);
  await ch.deleteExchange(t.deadLetterExchange);
}
