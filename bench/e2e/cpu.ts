// CPU accounting of bench/e2e from /proc: the servers' and services' processes, sampled at the
// start and end of a stage's measuring window. PostgreSQL is shared with whatever else runs on the
// machine, so only its background processes and the backends whose client sockets belong to the
// benchmark's own processes are counted; Redis and RabbitMQ are single processes and counted whole.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type pg from 'pg';
import { cpuSeconds } from '../ws/common.js';

/** Pids of processes named exactly `name` (pgrep -x); none when there are none. */
export function pgrep(name: string): number[] {
  try {
    return execFileSync('pgrep', ['-x', name], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Local TCP ports of the sockets the given processes hold towards `remotePort`. */
export function clientPortsOf(pids: readonly number[], remotePort: number): number[] {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        // closed meanwhile
      }
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = parseInt(f[1]!.split(':')[1]!, 16);
      const remote = parseInt(f[2]!.split(':')[1]!, 16);
      if (remote === remotePort && inodes.has(f[9]!)) ports.push(local);
    }
  }
  return ports;
}

export interface ServicePids {
  postgres: number[];
  redis: number[];
  rabbitmq: number[];
}

/**
 * The service processes that work for the benchmark now: postgres background processes and the
 * backends of the given client processes (by their client ports), redis-server, beam.smp.
 */
export async function servicePids(admin: pg.Client, clientPids: readonly number[], pgPort: number): Promise<ServicePids> {
  const ports = clientPortsOf(clientPids, pgPort);
  const running = new Set(pgrep('postgres'));
  const { rows } = await admin.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE backend_type <> 'client backend' OR client_port = ANY($1::int[])`,
    [ports],
  );
  return { postgres: rows.map((r) => r.pid).filter((p) => running.has(p)), redis: pgrep('redis-server'), rabbitmq: pgrep('beam.smp') };
}

export type CpuSnapshot = Map<number, number>;

export const snapshot = (pids: Iterable<number>): CpuSnapshot => new Map([...pids].map((p) => [p, cpuSeconds(p)]));

/**
 * CPU seconds between two snapshots over the union of their pids: a process that appeared meanwhile
 * counts from its start, one that ended meanwhile (reads as 0) counts nothing.
 */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): number {
  let total = 0;
  for (const [pid, end] of after) {
    const start = before.get(pid) ?? 0;
    if (end >= start) total += end - start;
  }
  return total;
}
