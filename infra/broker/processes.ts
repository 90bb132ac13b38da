/**
 * Wiring of the two broker roles from a Config, so the CLI, the gateways and the test runners start
 * them the same way. Each role owns its connection; stop() shuts down in dependency order.
 */
import type { Config } from '../config.js';
import type { EventStore } from '../event-store/port.js';
import type { Logger } from '../logger.js';
import { BrokerConnection } from './connection.js';
import { ProjectorConsumer } from './consumer.js';
import type { EventSink } from './event-sink.js';
import { Relay, type RelayOptions } from './relay.js';
import { topologyFor } from './topology.js';

function required(value: string | undefined, variable: string): string {
  if (value === undefined) throw new Error(`${variable} must be set for the relay and the projector`);
  return value;
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
    url: required(config.amqpUrl, 'AMQP_URL'),
    topology: topologyFor(config.amqpPrefix, config.projector.deliveryLimit),
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
  consumer: ProjectorConsumer;
  connection: BrokerConnection;
  stop(): Promise<void>;
}

export function startProjectorConsumer(config: Config, sink: EventSink, logger: Logger): RunningConsumer {
  const connection = BrokerConnection.start({
    url: required(config.amqpUrl, 'AMQP_URL'),
    topology: topologyFor(config.amqpPrefix, config.projector.deliveryLimit),
    logger,
    name: `projector:${config.amqpPrefix}:${process.pid}`,
  });
  const consumer = new ProjectorConsumer({
    connection,
    sink,
    logger,
    prefetch: config.projector.prefetch,
    batchSize: config.projector.batchSize,
    deliveryLimit: config.projector.deliveryLimit,
  });
  consumer.start();
  return {
    consumer,
    connection,
    async stop() {
      await consumer.stop();
      await connection.close();
    },
  };
}
