/**
 * A private RabbitMQ cluster on this machine for tests and benches: `size` rabbitmq-server nodes,
 * each with its own node name (rabbit-t<tag><i>@localhost), AMQP and distribution ports the OS
 * handed out, data and log directories under one temp dir, and one Erlang cookie (HOME points at the
 * temp dir). The shared node (rabbit@localhost, port 5672) is never touched: the nodes get their own
 * config file, env file and enabled-plugins file, so /etc/rabbitmq is not read. epmd is shared and
 * left alone. Node 2..n join node 1 (stop_app, join_cluster, start_app).
 *
 * Starting takes ~5-10 s per node (they boot in parallel, then join one after another).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import amqp, { type Channel } from 'amqplib';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, chmod, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';

const run = promisify(execFile);
const BIN = process.env['RABBITMQ_BIN'] ?? '/usr/lib/rabbitmq/bin';

export interface RabbitNode {
  /** Erlang node name, e.g. rabbit-tab12c1@localhost. */
  name: string;
  port: number;
  distPort: number;
  url: string;
  /** OS pid of the node's beam.smp (from its pid file); null before it started or after it died. */
  readonly pid: number | null;
  readonly alive: boolean;
}

export interface RabbitCluster {
  nodes: RabbitNode[];
  /** The nodes' AMQP URLs, in order (what AMQP_URL lists, comma-separated). */
  urls: string[];
  dir: string;
  /** rabbitmqctl (or another CLI in RABBITMQ_BIN) against one node, with the cluster's cookie. */
  ctl(node: RabbitNode, args: string[], tool?: string): Promise<string>;
  /** kill -9 of the node's beam.smp: a crash, no goodbye to its peers or clients. */
  kill(node: RabbitNode): Promise<void>;
  /** Starts a killed node again (same name, ports and data): it rejoins; resolves once all nodes are online. */
  restart(node: RabbitNode): Promise<void>;
  /** Stops every node that still runs (by pid) and removes the temp dir. */
  stop(): Promise<void>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface NodeState extends RabbitNode {
  proc: ChildProcess;
  pidFile: string;
  beamPid: number | null;
  log: () => string;
  /** Spawns rabbitmq-server for this node (again after a kill). */
  spawn: () => void;
}

export async function startRabbitCluster(opts: { size?: number; plugins?: string[]; startTimeoutMs?: number } = {}): Promise<RabbitCluster> {
  const size = opts.size ?? 3;
  const plugins = opts.plugins ?? ['rabbitmq_consistent_hash_exchange'];
  const timeoutMs = opts.startTimeoutMs ?? 90_000;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rabbit-cluster-'));
  const home = path.join(dir, 'home');
  await mkdir(home);
  const cookieFile = path.join(home, '.erlang.cookie');
  await writeFile(cookieFile, randomBytes(20).toString('hex').toUpperCase());
  await chmod(cookieFile, 0o600);
  const envFile = path.join(dir, 'rabbitmq-env.conf');
  await writeFile(envFile, '');
  const pluginsFile = path.join(dir, 'enabled_plugins');
  await writeFile(pluginsFile, `[${plugins.join(',')}].\n`);
  const tag = randomBytes(3).toString('hex');
  const baseEnv = {
    ...process.env,
    HOME: home,
    RABBITMQ_CONF_ENV_FILE: envFile,
    RABBITMQ_ENABLED_PLUGINS_FILE: pluginsFile,
    ERL_EPMD_ADDRESS: '127.0.0.1',
  };
  const nodes: NodeState[] = [];
  const ctl = async (node: RabbitNode, args: string[], tool = 'rabbitmqctl'): Promise<string> => {
    const { stdout } = await run(path.join(BIN, tool), ['-n', node.name, ...args], { env: baseEnv, timeout: 60_000 });
    return stdout;
  };
  const cluster: RabbitCluster = {
    nodes,
    urls: [],
    dir,
    ctl,
    async kill(node) {
      const n = node as NodeState;
      if (n.beamPid !== null && isAlive(n.beamPid)) process.kill(n.beamPid, 'SIGKILL');
      const deadline = Date.now() + 10_000;
      while (n.beamPid !== null && isAlive(n.beamPid) && Date.now() < deadline) await sleep(50);
      n.beamPid = null;
    },
    async restart(node) {
      const n = node as NodeState;
      if (n.alive) throw new Error(`${n.name} is running`);
      // The old pid file would name the dead beam: wait for the new one.
      await rm(n.pidFile, { force: true });
      n.spawn();
      await awaitBoot(n, ctl, timeoutMs);
      await ctl(nodes[0]!.alive ? nodes[0]! : n, ['await_online_nodes', String(nodes.length)]);
    },
    async stop() {
      for (const n of nodes) if (n.beamPid !== null && isAlive(n.beamPid)) process.kill(n.beamPid, 'SIGTERM');
      const deadline = Date.now() + 15_000;
      for (const n of nodes) {
        while (n.beamPid !== null && isAlive(n.beamPid) && Date.now() < deadline) await sleep(100);
        if (n.beamPid !== null && isAlive(n.beamPid)) process.kill(n.beamPid, 'SIGKILL');
        n.beamPid = null;
      }
      process.off('exit', onExit);
      await rm(dir, { recursive: true, force: true });
    },
  };

  // A test that dies without its teardown must not leave nodes behind.
  const onExit = (): void => {
    for (const n of nodes) if (n.beamPid !== null && isAlive(n.beamPid)) process.kill(n.beamPid, 'SIGKILL');
  };
  process.once('exit', onExit);
  try {
    /** Spawns node i on ports just handed out; a port taken again before RabbitMQ bound it is a retry. */
    const spawnNode = async (i: number): Promise<NodeState> => {
      const port = await freePort();
      const distPort = await freePort();
      const name = `rabbit-t${tag}${i}@localhost`;
      const nodeDir = path.join(dir, `n${i}`);
      await mkdir(nodeDir, { recursive: true });
      const confFile = path.join(nodeDir, 'rabbitmq.conf');
      // Own listener, no management (not in the plugins file); guest may connect from 127.0.0.1.
      await writeFile(confFile, `listeners.tcp.1 = 127.0.0.1:${port}\n`);
      const pidFile = path.join(nodeDir, 'beam.pid');
      const env = {
        ...baseEnv,
        RABBITMQ_NODENAME: name,
        RABBITMQ_NODE_PORT: String(port),
        RABBITMQ_DIST_PORT: String(distPort),
        RABBITMQ_CONFIG_FILE: confFile,
        RABBITMQ_MNESIA_BASE: path.join(nodeDir, 'mnesia'),
        RABBITMQ_LOG_BASE: path.join(nodeDir, 'log'),
        RABBITMQ_PID_FILE: pidFile,
        RABBITMQ_SERVER_START_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
      };
      let out = '';
      const keep = (chunk: Buffer): void => void (out = (out + chunk.toString('utf8')).slice(-10_000));
      const state: NodeState = {
        name,
        port,
        distPort,
        url: `amqp://guest:guest@127.0.0.1:${port}`,
        proc: null as unknown as ChildProcess,
        pidFile,
        beamPid: null,
        log: () => out,
        spawn() {
          state.proc = spawn(path.join(BIN, 'rabbitmq-server'), [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
          state.proc.stdout?.on('data', keep);
          state.proc.stderr?.on('data', keep);
        },
        get pid() {
          return state.beamPid;
        },
        get alive() {
          return state.beamPid !== null && isAlive(state.beamPid);
        },
      };
      state.spawn();
      nodes.push(state);
      return state;
    };
    const bootNode = async (i: number): Promise<NodeState> => {
      for (let attempt = 1; ; attempt++) {
        const n = await spawnNode(i);
        try {
          await awaitBoot(n, ctl, timeoutMs);
          return n;
        } catch (err) {
          // freePort closes the port before RabbitMQ binds it: another socket of this busy machine may take it meanwhile.
          if (attempt >= 3 || !/eaddrinuse/.test(n.log())) throw err;
          nodes.splice(nodes.indexOf(n), 1);
          await rm(path.join(dir, `n${i}`), { recursive: true, force: true });
        }
      }
    };
    const booted = await Promise.all(Array.from({ length: size }, (_, k) => bootNode(k + 1)));
    nodes.length = 0;
    nodes.push(...booted);
    cluster.urls.push(...nodes.map((n) => n.url));
    for (const n of nodes.slice(1)) {
      await ctl(n, ['stop_app']);
      await ctl(n, ['join_cluster', nodes[0]!.name]);
      await ctl(n, ['start_app']);
    }
    await ctl(nodes[0]!, ['await_online_nodes', String(size)]);
  } catch (err) {
    await cluster.stop().catch(() => undefined);
    throw err;
  }
  return cluster;
}

async function awaitBoot(n: NodeState, ctl: RabbitCluster['ctl'], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (n.proc.exitCode !== null) throw new Error(`RabbitMQ node ${n.name} exited during boot:\n${n.log()}`);
    if (n.beamPid === null) {
      const pid = Number((await readFile(n.pidFile, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0) n.beamPid = pid;
    }
    // await_startup fails at once while the node is not yet registered with epmd: poll it.
    if (n.beamPid !== null) {
      try {
        await ctl(n, ['await_startup', '--timeout', '60']);
        return;
      } catch {
        // not registered yet
      }
    }
    if (Date.now() > deadline) throw new Error(`RabbitMQ node ${n.name} did not boot within ${timeoutMs} ms:\n${n.log()}`);
    await sleep(300);
  }
}

/** Runs fn on a short-lived channel of the first live node that answers. */
export async function withClusterChannel<T>(cluster: RabbitCluster, fn: (ch: Channel) => Promise<T>): Promise<T> {
  let lastError: unknown = new Error('no live node');
  for (const node of cluster.nodes) {
    if (!node.alive) continue;
    let model: amqp.ChannelModel | null = null;
    try {
      model = await amqp.connect(node.url, { timeout: 5000 });
      model.on('error', () => undefined);
      const ch = await model.createChannel();
      ch.on('error', () => undefined);
      return await fn(ch);
    } catch (err) {
      lastError = err;
    } finally {
      await model?.close().catch(() => undefined);
    }
  }
  throw lastError;
}

/** Ready messages in a queue of the cluster. */
export async function clusterQueueDepth(cluster: RabbitCluster, queue: string): Promise<number> {
  return withClusterChannel(cluster, async (ch) => (await ch.checkQueue(queue)).messageCount);
}
