/**
 * The broker objects of one deployment, all named from its prefix so that tests (and several
 * deployments on one broker) never share a queue:
 *
 *   <prefix>.events           durable topic exchange; the relay publishes with routing key = event type
 *   <prefix>.projector        durable quorum queue bound with '#', explicit delivery limit, dead-letters to
 *   <prefix>.events.dlx       durable fanout exchange, bound to
 *   <prefix>.projector.dead   durable queue holding what the broker itself dead-lettered
 *
 * Debian's RabbitMQ 3.10 has no default delivery limit on quorum queues: without x-delivery-limit a
 * message that crashes every consumer is redelivered forever, so we always set it. Asserting is
 * idempotent; asserting with different arguments than an existing queue fails with 406
 * PRECONDITION_FAILED, which the connection helper logs and retries (a configuration error).
 */
import type { Channel } from 'amqplib';

export interface TopologyNames {
  exchange: string;
  projectorQueue: string;
  deadLetterExchange: string;
  deadLetterQueue: string;
}

export interface Topology extends TopologyNames {
  deliveryLimit: number;
}

export function topologyNames(prefix: string): TopologyNames {
  return {
    exchange: `${prefix}.events`,
    projectorQueue: `${prefix}.projector`,
    deadLetterExchange: `${prefix}.events.dlx`,
    deadLetterQueue: `${prefix}.projector.dead`,
  };
}

export function topologyFor(prefix: string, deliveryLimit: number): Topology {
  return { ...topologyNames(prefix), deliveryLimit };
}

/** Arguments of the projector queue; exported so tests and tools declare it identically. */
export function projectorQueueArguments(t: Topology): Record<string, unknown> {
  return {
    'x-queue-type': 'quorum',
    'x-delivery-limit': t.deliveryLimit,
    'x-dead-letter-exchange': t.deadLetterExchange,
  };
}

/** Declares every object; safe to run on each (re)connect and from several processes at once. */
export async function assertTopology(ch: Channel, t: Topology): Promise<void> {
  await ch.assertExchange(t.exchange, 'topic', { durable: true });
  await ch.assertExchange(t.deadLetterExchange, 'fanout', { durable: true });
  await ch.assertQueue(t.deadLetterQueue, { durable: true });
  await ch.bindQueue(t.deadLetterQueue, t.deadLetterExchange, '');
  await ch.assertQueue(t.projectorQueue, { durable: true, arguments: projectorQueueArguments(t) });
  await ch.bindQueue(t.projectorQueue, t.exchange, '#');
}

/** Removes every object (tests, decommissioning). Missing objects are not an error. */
export async function deleteTopology(ch: Channel, t: TopologyNames): Promise<void> {
  await ch.deleteQueue(t.projectorQueue);
  await ch.deleteQueue(t.deadLetterQueue);
  await ch.deleteExchange(t.exchange);
  await ch.deleteExchange(t.deadLetterExchange);
}
