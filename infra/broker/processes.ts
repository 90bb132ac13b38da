/**
 * Wiring of the two broker roles from a Config, so the CLI, the gateways and the test runners start
 * them the same way. Each role owns its connection; stop() shuts down in dependency order.
 */
import type { Config } from '../config.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import type { Logger } from '../logger.js';
import { BrokerConnection } from './connection.js';
import { ProjectorConsumer } from './consumer.js';
import type { EventSink } from './event-sink.js';
import { Relay, type RelayOptions } from './relay.js';
import { PartitionBalancer } from './partitions.js';
import { projectorQueues, topologyFor } from './topology.js';

function required(value: string | undefined, variable: string): string {
  if (value === undefined) throw new Error(`${variable} must be set for the relay and the projector`);
  return value;
}

function urlsOf(config: Config): string[] {
  if (config.amqpUrls.length === 0) throw new Error('AMQP_URL must be set for the relay and the projector');
  return config.amqpUrls;
}

export interface RunningRelay {
  relay: Relay;
  connection: BrokerConnection;
  stop(): Promise<void>;
}

export function startRelay(
  config: Config,
  store: EventStore,
  logger: Logger,
  tuning: Pick<RelayOptions, 'batchSize' | 'lingerMs' | 'standbyPollMs'> = {},
): RunningRelay {
  const connection = BrokerConnection.start({
    url: urlsOf(config),
    topology: topologyFor(config.amqpPrefix, config.projector.deliveryLimit, config.projector.partitions),
    logger,
    name: `relay:${config.amqpPrefix}:${process.pid}`,
  });
  const relay = new Relay({
    store,
    connection,
    databaseUrl: required(config.databaseUrl, 'DATABASE_URL'),
    schema: config.databaseSchema,
    logger,
    ...tuning,
  });
  relay.start();
  return {
    relay,
    connection,
    async stop() {
      await relay.stop();
      await connection.close();
    },
  };
}

export interface RunningConsumer {
  /** The projector queue's consumer (with partitions: partition 0's). */
  consumer: ProjectorConsumer;
  /** One consumer per partition queue (just `consumer` without partitions). */
  partitions: ProjectorConsumer[];
  /** Spreads the partitions over the projector processes; null without partitions. */
  balancer: PartitionBalancer | null;
  /** Replays `<prefix>.projector.dead` (see consumer.ts): nothing the broker dead-letters is left unapplied. */
  deadLetters: ProjectorConsumer;
  connection: BrokerConnection;
  stop(): Promise<void>;
}

/**
 * One batch at a time into the sink, whichever consumer of this process hands it: the projector
 * queue's and the dead-letter queue's consumers then never race each other inside one process.
 */
export function serializedSink(sink: EventSink): EventSink {
  let tail: Promise<unknown> = Promise.resolve();
  const queued = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
  return {
    applyBatch: (records) => queued(() => sink.applyBatch(records)),
    park: (record, error, attempts) => queued(() => sink.park(record, error, attempts)),
  };
}

export function startProjectorConsumer(config: Config, sink: EventSink, logger: Logger): RunningConsumer {
  const connection = BrokerConnection.start({
    url: urlsOf(config),
    topology: topologyFor(config.amqpPrefix, config.projector.deliveryLimit, config.projector.partitions),
    logger,
    name: `projector:${config.amqpPrefix}:${process.pid}`,
  });
  const serial = serializedSink(sink);
  const tuning = { connection, sink: serial, logger, batchSize: config.projector.batchSize, deliveryLimit: config.projector.deliveryLimit };
  // One channel per queue: a partition is handed on by closing its channel (partitions.ts).
  const partitions = projectorQueues(connection.topology).map((queue) => new ProjectorConsumer({ ...tuning, queue, prefetch: config.projector.prefetch }));
  // A small window: the dead-letter queue is empty unless connection losses or a crash loop filled it.
  const deadLetters = new ProjectorConsumer({ ...tuning, prefetch: Math.min(config.projector.prefetch, 100), deadLetters: true });
  const balancer = partitions.length > 1 ? new PartitionBalancer({ connection, consumers: partitions, logger }) : null;
  for (const c of partitions) c.start();
  deadLetters.start();
  balancer?.start();
  return {
    consumer: partitions[0]!,
    partitions,
    balancer,
    deadLetters,
    connection,
    async stop() {
      await balancer?.stop();
      await Promise.all([...partitions.map((c) => c.stop()), deadLetters.stop()]);
      await connection.close();
    },
  };
}
