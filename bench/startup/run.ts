/**
 * Start-up benchmark: how long each role takes from `spawn` to serving, run from the ahead-of-time
 * build (dist/, what `npm install` leaves and production runs) and from the TypeScript sources
 * through tsx (how every start worked before the build existed).
 *
 * "Serving" is the first answer a client can get: for roles with HTTP, a 200 from /healthz; for the
 * gateway, a TCP connect to its WebSocket port; for the relay and the projector, the process's own
 * "chat service started" line (they serve no port: that line follows their consumer or relay start).
 *
 *   npm run bench:startup [-- --runs 3]
 *   BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), REDIS_URL, AMQP_URL as for the tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import pg from 'pg';
import { topologyNames } from '../../infra/broker/topology.js';
import { freePort } from '../../test/support/free-port.js';
import { numberArg } from '../args.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RUNS = numberArg('runs', 3);
const DB = process.env['BENCH_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const AMQP = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

type Mode = 'compiled' | 'tsx';
type Role = 'all (embedded)' | 'api' | 'gateway' | 'relay' | 'projector';

const canConnect = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });

async function httpOk(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
  } catch {
    return false;
  }
}

function command(mode: Mode, role: Role): string[] {
  const roleArgs = role === 'all (embedded)' ? [] : ['--role', role];
  return mode === 'compiled'
    ? [path.join(ROOT, 'dist/gateways/cli/main.js'), 'start', ...roleArgs]
    : ['--import', 'tsx', path.join(ROOT, 'gateways/cli/main.ts'), 'start', ...roleArgs];
}

interface Sample { ms: number; cpuMs: number }

/** Starts one process, waits until it serves, and returns the wall time and the CPU it used meanwhile. */
async function once(mode: Mode, role: Role, shared: { schema: string; prefix: string }): Promise<Sample> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'chat-startup-'));
  const [httpPort, wsPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LOG_LEVEL: 'info',
    DATA_DIR: dataDir,
    HTTP_PORT: String(httpPort),
    WS_PORT: String(wsPort),
  };
  if (role !== 'all (embedded)') {
    Object.assign(env, {
      DATABASE_URL: DB,
      DATABASE_SCHEMA: shared.schema,
      REDIS_URL: REDIS,
      REDIS_KEY_PREFIX: `${shared.prefix}:`,
      AMQP_URL: AMQP,
      AMQP_PREFIX: shared.prefix,
    });
  } else {
    for (const k of ['DATABASE_URL', 'REDIS_URL', 'AMQP_URL', 'EVENTSTORE_URL']) delete env[k];
  }
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, command(mode, role), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${role} (${mode}) exited: ${out.slice(-2000)}`);
      const ready =
        role === 'api' || role === 'all (embedded)' ? await httpOk(httpPort)
        : role === 'gateway' ? await canConnect(wsPort)
        : out.includes('"chat service started"');
      if (ready) break;
      if (performance.now() - started > 60_000) throw new Error(`${role} (${mode}) did not serve within 60 s: ${out.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const ms = performance.now() - started;
    const cpuMs = cpuOf(child.pid!);
    return { ms, cpuMs };
  } finally {
    child.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** User + system CPU of a live process, from /proc (Linux), in ms. */
function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / 100; // CLK_TCK is 100 on Linux
  } catch {
    return NaN;
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  if (!existsSync(path.join(ROOT, 'dist/gateways/cli/main.js'))) throw new Error('no dist/: run `npm run build` first');
  const suffix = randomUUID().replace(/-/g, '').slice(0, 8);
  const schema = `bench_startup_${suffix}`;
  const admin = new pg.Client({ connectionString: DB });
  await admin.connect();
  const shared = { schema, prefix: `bench_startup_${suffix}` };
  const roles: Role[] = ['all (embedded)', 'api', 'gateway', 'relay', 'projector'];
  const rows: string[] = [];
  try {
    // The first start on a new schema runs the migrations; every later one finds them done.
    const first = await once('compiled', 'api', shared);
    rows.push(`| api, first start on an empty schema (migrations) | ${Math.round(first.ms)} | ${Math.round(first.cpuMs)} | – | – |`);
    for (const role of roles) {
      const result: Record<Mode, Sample[]> = { compiled: [], tsx: [] };
      for (let i = 0; i < RUNS; i++) {
        for (const mode of ['compiled', 'tsx'] as const) result[mode].push(await once(mode, role, shared));
      }
      const c = median(result.compiled.map((s) => s.ms));
      const t = median(result.tsx.map((s) => s.ms));
      rows.push(`| ${role} | ${Math.round(c)} | ${Math.round(median(result.compiled.map((s) => s.cpuMs)))} | ${Math.round(t)} | ${Math.round(median(result.tsx.map((s) => s.cpuMs)))} |`);
    }
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
    const conn = await amqp.connect(AMQP);
    const ch = await conn.createChannel();
    const names = topologyNames(shared.prefix);
    for (const q of [names.projectorQueue, names.deadLetterQueue]) await ch.deleteQueue(q);
    for (const x of [names.exchange, names.deadLetterExchange]) await ch.deleteExchange(x);
    await conn.close();
  }
  process.stdout.write(
    `\nStart to serving, median of ${RUNS} runs (${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(2)})\n\n` +
      '| role | compiled (dist/) ms | its CPU ms | from sources (tsx) ms | its CPU ms |\n|---|---|---|---|---|\n' +
      rows.join('\n') + '\n',
  );
}

await main();
