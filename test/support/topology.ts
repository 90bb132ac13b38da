// The whole clustered topology on loopback, for test/cluster/topology-faults.test.ts: a 3-node
// RabbitMQ cluster, Redis primary + replica + 3 sentinels, a PostgreSQL primary with a streaming
// replica, and the service's roles as separate processes started as the README's scale-out commands
// start them (2 api, 2 gateway, 1 relay, 2 projectors over PROJECTOR_PARTITIONS=4), with HAProxy in
// front of the api and gateway processes. Every port comes from the OS, every data directory is under
// a temp dir, and stop() ends each process by its pid (also after a failed start).
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startHaproxy, type Haproxy } from './haproxy.js';
import { startPgPair, type PgPair } from './pg-replica.js';
import { startRabbitCluster, type RabbitCluster } from './rabbit-cluster.js';
import { startRedisSentinel, type RedisSentinelGroup } from './redis-sentinel.js';
import { freePort } from './free-port.js';
import { startRole, type RoleProcess } from './role-process.js';

export interface Topology {
  rabbit: RabbitCluster;
  redis: RedisSentinelGroup;
  pg: PgPair;
  haproxy: Haproxy;
  /** Settings every role runs with (the test's CLI commands use them too). */
  env: Record<string, string>;
  schema: string;
  roles: Map<string, RoleProcess>;
  /** Starts the named role process again (after a kill), with its settings; resolves once it serves. */
  restart(name: string): Promise<RoleProcess>;
  /** Milliseconds each part took to start. */
  startup: Record<string, number>;
  stop(): Promise<void>;
}

interface RoleSpec {
  role: string;
  env: Record<string, string>;
  ready: string;
}

const READY = 'chat service started';

async function timed<T>(startup: Record<string, number>, label: string, task: Promise<T>): Promise<T> {
  const t0 = Date.now();
  const v = await task;
  startup[label] = Date.now() - t0;
  return v;
}

export async function startTopology(opts: { partitions?: number; logLevel?: string } = {}): Promise<Topology> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'test-topology-'));
  const startup: Record<string, number> = {};
  const roles = new Map<string, RoleProcess>();
  const specs = new Map<string, RoleSpec>();
  let rabbit: RabbitCluster | null = null;
  let redis: RedisSentinelGroup | null = null;
  let pg: PgPair | null = null;
  let haproxy: Haproxy | null = null;
  let rabbitUp: Promise<RabbitCluster> | null = null;

  const stop = async (): Promise<void> => {
    const quietly = async (p: Promise<unknown> | undefined): Promise<void> => void (await p?.catch(() => undefined));
    await quietly(haproxy?.stop());
    // Gateways and APIs first, the relay and projectors after them (as deploy/compose.yaml stops them).
    const order = [...roles.values()].sort((a, b) => Number(['relay', 'projector'].includes(a.role)) - Number(['relay', 'projector'].includes(b.role)));
    for (const group of [order.filter((r) => !['relay', 'projector'].includes(r.role)), order.filter((r) => ['relay', 'projector'].includes(r.role))]) {
      await Promise.all(group.map((r) => quietly(r.stop(5_000))));
    }
    await Promise.all([quietly(rabbit?.stop()), quietly(redis?.stop()), quietly(pg?.stop())]);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    // The RabbitMQ cluster boots longest; the api and gateway processes need only PostgreSQL and Redis,
    // so they start meanwhile. The relay and projectors wait for the whole cluster: queues declared on
    // a lone first node would not be replicated to the others.
    rabbitUp = timed(startup, 'rabbitmq (3 nodes)', startRabbitCluster({ size: 3 })).then((r) => (rabbit = r));
    rabbitUp.catch(() => undefined);
    [redis, pg] = await Promise.all([
      timed(startup, 'redis + sentinels', startRedisSentinel({ name: 'chat-topology' })),
      timed(startup, 'postgresql + replica', startPgPair()),
    ]);
    const schema = 'chat_topology';
    const env: Record<string, string> = {
      DATABASE_URL: pg.primaryUrl,
      DATABASE_READ_URL: pg.replicaUrl,
      DATABASE_SCHEMA: schema,
      REDIS_SENTINELS: redis.sentinelsEnv,
      REDIS_SENTINEL_NAME: redis.name,
      REDIS_KEY_PREFIX: 'topo:',
      AMQP_URL: '', // set below, once the cluster is up (only the relay and projectors use it)
      AMQP_PREFIX: 'topo',
      PROJECTOR_PARTITIONS: String(opts.partitions ?? 4),
      DATA_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      LOG_LEVEL: opts.logLevel ?? 'info',
      // Every user logs in from 127.0.0.1 (through HAProxy): not an attack.
      LOGIN_MAX_PER_ADDRESS: '1000000',
    };
    const add = async (name: string, role: string, extra: Record<string, string> = {}): Promise<void> => {
      const dataDir = path.join(dir, name);
      await mkdir(dataDir);
      specs.set(name, { role, env: { ...env, DATA_DIR: dataDir, ...extra }, ready: role === 'gateway' ? 'websocket gateway listening' : READY });
    };
    const apiPorts = [await freePort(), await freePort()];
    const gatewayPorts = [await freePort(), await freePort()];
    for (const [i, port] of apiPorts.entries()) await add(`api-${i + 1}`, 'api', { HTTP_PORT: String(port) });
    for (const [i, port] of gatewayPorts.entries()) await add(`gateway-${i + 1}`, 'gateway', { WS_PORT: String(port), WS_LISTEN_RETRY_MS: '5000' });
    await add('relay-1', 'relay');
    await add('projector-1', 'projector');
    await add('projector-2', 'projector');

    const launch = async (name: string): Promise<RoleProcess> => {
      const spec = specs.get(name)!;
      const p = startRole(spec.role, name, spec.env);
      roles.set(name, p);
      await p.waitLine((l) => l.includes(spec.ready), 180_000);
      return p;
    };
    // The first api migrates the read models; the others then find them done.
    await timed(startup, 'api-1 (migrates)', launch('api-1'));
    const front = timed(startup, 'api-2, gateways', Promise.all(['api-2', 'gateway-1', 'gateway-2'].map(launch)));
    front.catch(() => undefined);
    const cluster = await rabbitUp;
    for (const name of ['relay-1', 'projector-1', 'projector-2']) specs.get(name)!.env['AMQP_URL'] = cluster.urls.join(',');
    env['AMQP_URL'] = cluster.urls.join(',');
    await Promise.all([front, timed(startup, 'relay, projectors', Promise.all(['relay-1', 'projector-1', 'projector-2'].map(launch)))]);
    haproxy = await timed(startup, 'haproxy', startHaproxy({ apis: apiPorts, gateways: gatewayPorts }));
    return {
      rabbit: cluster, redis, pg, haproxy, env, schema, roles, startup, stop,
      restart: async (name) => {
        await roles.get(name)?.kill();
        return launch(name);
      },
    };
  } catch (err) {
    const tails = [...roles.values()].map((r) => r.tail(15)).join('\n');
    await rabbitUp?.catch(() => undefined); // a cluster still booting is stopped too
    await stop();
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${tails}`);
  }
}
