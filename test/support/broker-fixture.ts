/**
 * One isolated relay/consumer world per test: its own PostgreSQL schema (event store, checkpoint,
 * sink tables) and its own broker prefix. Everything opened through it is closed, and the schema and
 * broker objects deleted, in the test's teardown.
 */
import type { Test } from 'tap';
import { BrokerConnection } from '../../infra/broker/connection.js';
import { ProjectorConsumer, type ProjectorConsumerOptions } from '../../infra/broker/consumer.js';
import type { EventSink } from '../../infra/broker/event-sink.js';
import { Relay, type RelayOptions } from '../../infra/broker/relay.js';
import { startProjectorConsumer, startRelay, type RunningConsumer, type RunningRelay } from '../../infra/broker/processes.js';
import { topologyFor, type Topology } from '../../infra/broker/topology.js';
import { loadConfig } from '../../infra/config.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import type { Logger } from 'pino';
import { Collector, TEST_AMQP_URL, holdOrderingLockShared, removeTopology, testLogger, testPrefix } from './broker.js';
import { createTestSchema, type TestSchema } from './pg.js';
import { PgSink } from './pg-sink.js';
import pg from 'pg';

export interface BrokerWorld {
  schema: TestSchema;
  prefix: string;
  topology: Topology;
  logger: Logger;
  store: PostgresEventStore;
  /** Environment for a child runner (test/support/run-*.ts) working in this world. */
  env: Record<string, string>;
  connect(name: string): BrokerConnection;
  relay(name: string, opts?: Partial<Omit<RelayOptions, 'store' | 'connection' | 'logger'>>): Relay;
  consumer(sink: EventSink, opts?: Partial<Omit<ProjectorConsumerOptions, 'connection' | 'sink' | 'logger'>>): ProjectorConsumer;
  collector(queue?: string): Collector;
  sink(): Promise<PgSink>;
  /** The relay checkpoint as stored (null before any relay led). */
  checkpoint(): Promise<bigint | null>;
  /** Registers a cleanup step that runs before the shared ones (stop processes first). */
  onCleanup(fn: () => Promise<void>): void;
}

/**
 * `amqpUrl`: where this world's processes reach the broker (a test/support/tcp-proxy.ts in front of it,
 * to cut the path), or the nodes of a cluster (test/support/rabbit-cluster.ts).
 */
export async function brokerWorld(t: Test, opts: { label: string; deliveryLimit?: number; amqpUrl?: string | string[] }): Promise<BrokerWorld> {
  const amqpUrl = opts.amqpUrl ?? TEST_AMQP_URL;
  const release = await holdOrderingLockShared();
  const schema = await createTestSchema(opts.label);
  const prefix = testPrefix();
  const deliveryLimit = opts.deliveryLimit ?? 5;
  const topology = topologyFor(prefix, deliveryLimit);
  const logger = testLogger(opts.label);
  const store = await PostgresEventStore.open({ connectionString: schema.url, schema: schema.schema, logger });
  const cleanups: Array<() => Promise<void>> = [];
  const connections: BrokerConnection[] = [];
  const relays: Relay[] = [];
  const consumers: ProjectorConsumer[] = [];
  const collectors: Collector[] = [];
  const sinks: PgSink[] = [];
  const admin = new pg.Pool({ connectionString: schema.url, max: 1 });
  admin.on('error', () => undefined);

  t.teardown(async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
    await Promise.all(relays.map((r) => r.stop()));
    await Promise.all(consumers.map((c) => c.stop()));
    await Promise.all(collectors.map((c) => c.stop()));
    await Promise.all(connections.map((c) => c.close()));
    await Promise.all(sinks.map((s) => s.close()));
    await store.close();
    await admin.end();
    await removeTopology(prefix).catch(() => undefined);
    await schema.drop();
    await release();
  });

  const world: BrokerWorld = {
    schema,
    prefix,
    topology,
    logger,
    store,
    env: {
      DATABASE_URL: schema.url,
      DATABASE_SCHEMA: schema.schema,
      AMQP_URL: typeof amqpUrl === 'string' ? amqpUrl : amqpUrl.join(','),
      AMQP_PREFIX: prefix,
      PROJECTOR_DELIVERY_LIMIT: String(deliveryLimit),
    },
    connect(name) {
      // Named after the world's prefix, so a fault can close this world's connections only.
      const c = BrokerConnection.start({ url: amqpUrl, topology, logger, name: `${prefix}:${name}`, minBackoffMs: 50, maxBackoffMs: 1000 });
      connections.push(c);
      return c;
    },
    relay(name, o = {}) {
      const r = new Relay({
        store,
        connection: world.connect(name),
        databaseUrl: schema.url,
        schema: schema.schema,
        logger,
        retryMinMs: 50,
        retryMaxMs: 500,
        standbyPollMs: 200,
        ...o,
      });
      relays.push(r);
      return r;
    },
    consumer(sink, o = {}) {
      const c = new ProjectorConsumer({
        connection: world.connect('consumer'),
        sink,
        logger,
        prefetch: 200,
        batchSize: 200,
        deliveryLimit,
        retryMinMs: 50,
        retryMaxMs: 500,
        ...o,
      });
      consumers.push(c);
      return c;
    },
    collector(queue = topology.projectorQueue) {
      const c = Collector.start(topology, queue, logger);
      collectors.push(c);
      return c;
    },
    async sink() {
      const s = await PgSink.open(schema.url, schema.schema);
      sinks.push(s);
      return s;
    },
    async checkpoint() {
      try {
        const res = await admin.query<{ position: string }>(`SELECT position::text AS position FROM "${schema.schema}".relay_checkpoint`);
        return res.rows[0] ? BigInt(res.rows[0].position) : null;
      } catch (err) {
        if ((err as { code?: unknown }).code === '42P01') return null; // no relay has led yet
        throw err;
      }
    },
    onCleanup(fn) {
      cleanups.push(fn);
    },
  };
  return world;
}

/**
 * The relay and the projector consumer as `chat start` runs them (infra/broker/processes.ts), with the
 * world's settings and `env` on top; both stopped at the world's cleanup.
 */
export function startRelayAndConsumer(w: BrokerWorld, sink: EventSink, env: Record<string, string> = {}): { relay: RunningRelay; consumer: RunningConsumer } {
  const config = loadConfig({ ...w.env, LOG_LEVEL: 'silent', ...env });
  const relay = startRelay(config, w.store, w.logger);
  const consumer = startProjectorConsumer(config, sink, w.logger);
  w.onCleanup(() => relay.stop());
  w.onCleanup(() => consumer.stop());
  return { relay, consumer };
}
