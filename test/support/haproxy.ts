// HAProxy of the test's own in front of the API and gateway processes, as deploy/haproxy.cfg routes
// them (/ws to the gateways, least connections; the rest to the APIs, round robin; both checked on
// /healthz), on a port from the OS, with its config in a temp dir, run in the foreground and stopped
// by its pid. Faster health checks than production (a killed process is out within ~1 s) and
// redispatch, so a connect refused by a dead server is retried on another. Each upgrade's answer
// names the gateway that took it (X-Gateway), so a test can see where clients landed. The checks speak
// HTTP/1.1 with a Host: the gateway (uWebSockets.js) never answers `option httpchk`'s bare HTTP/1.0.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

export interface Haproxy {
  port: number;
  /** http://127.0.0.1:port */
  url: string;
  pid: number;
  /** Server name → status (UP, DOWN, …) and its last check (L7OK, L4CON, …), from the stats page. */
  status(): Promise<Map<string, string>>;
  stop(): Promise<void>;
}

const servers = (prefix: string, ports: number[]): string =>
  ports.map((p, i) => `    server ${prefix}-${i + 1} 127.0.0.1:${p} check`).join('\n');

/** Why the tests that need HAProxy cannot run here, or null when they can. */
export function haproxyMissing(): string | null {
  const bin = process.env['HAPROXY_BIN'] ?? 'haproxy';
  return spawnSync(bin, ['-v']).error ? `${bin} is not installed (apt-get install -y haproxy, or set HAPROXY_BIN)` : null;
}

export async function startHaproxy(opts: { apis: number[]; gateways: number[] }): Promise<Haproxy> {
  const bin = process.env['HAPROXY_BIN'] ?? 'haproxy';
  const dir = await mkdtemp(path.join(os.tmpdir(), 'test-haproxy-'));
  const port = await freePort();
  const statsPort = await freePort();
  const cfg = path.join(dir, 'haproxy.cfg');
  await writeFile(cfg, `global
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    timeout client-fin 5s
    timeout http-request 10s
    retries 3
    option redispatch 1
    default-server inter 300 fall 2 rise 1

frontend public
    bind 127.0.0.1:${port}
    acl is_ws path /ws
    use_backend gateways if is_ws
    default_backend apis

frontend stats
    bind 127.0.0.1:${statsPort}
    stats enable
    stats uri /stats

backend apis
    balance roundrobin
    option httpchk GET /healthz
    http-check send ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
${servers('api', opts.apis)}

backend gateways
    balance leastconn
    option httpchk GET /healthz
    http-check send ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    http-response set-header X-Gateway %s
${servers('gateway', opts.gateways)}
`);
  await run(bin, ['-c', '-q', '-f', cfg]);
  const proc: ChildProcess = spawn(bin, ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => void (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const onExit = (): void => void proc.kill('SIGKILL');
  process.once('exit', onExit);
  const status = async (): Promise<Map<string, string>> => {
    const res = await fetch(`http://127.0.0.1:${statsPort}/stats;csv`);
    const out = new Map<string, string>();
    for (const line of (await res.text()).split('\n')) {
      const f = line.split(',');
      if (f.length > 36 && f[1] && !['FRONTEND', 'BACKEND', 'svname'].includes(f[1])) out.set(f[1], `${f[17]} ${f[36]}`);
    }
    return out;
  };
  const stop = async (): Promise<void> => {
    process.off('exit', onExit);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // A server counts as up before its first check: wait for a passed check of each.
    await waitFor('haproxy answering, every server checked up', async () => {
      if (proc.exitCode !== null) throw new Error(`haproxy exited: ${err}`);
      const s = await status().catch(() => null);
      return s !== null && s.size === opts.apis.length + opts.gateways.length && [...s.values()].every((v) => /^UP L7OK/.test(v));
    }, 60_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, url: `http://127.0.0.1:${port}`, pid: proc.pid!, status, stop };
}
