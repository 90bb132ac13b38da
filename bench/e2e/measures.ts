// What bench:e2e (run.ts) measures per stage and per system: read-side lag from the generator's ack
// series, and CPU per delivered message.
import { percentile, type StageReport } from '../ws/common.js';
import { cpuBetween, type CpuSnapshot, type ServicePids } from './cpu.js';
import type { Consistency } from './read-side.js';

export interface Lag {
  p99Ms: number;
  maxMs: number;
  /** The same in messages: acknowledged but not yet visible. */
  maxMessages: number;
}

export interface Cpu {
  seconds: number;
  /** ms of CPU per delivered message. */
  servers: number;
  postgres: number;
  redis: number;
  rabbitmq: number;
  serverSide: number;
  loadgen: number;
}

export interface Stage {
  report: StageReport;
  pgLag: Lag | null;
  redisLag: Lag | null;
  /** From the stage's last send until the read model held every message acknowledged in it. */
  pgCatchUpMs: number | null;
  redisCatchUpMs: number | null;
  cpu: Cpu | null;
  readSideOk: boolean;
  ok: boolean;
}

export interface ModeResult {
  stages: Stage[];
  best: Stage | null;
  /** After the load stopped: until both read models held every acknowledged message. */
  finalCatchUp: { pgMs: number | null; redisMs: number | null };
  acked: number;
  consistency: Consistency | null;
  /** Lost and duplicated deliveries as the generator saw them (all stages). */
  deliveryDuplicates: number;
}

export interface AckPoint {
  t: number;
  n: number;
}

/**
 * How long ago the oldest acknowledged message the read model does not show yet was acknowledged:
 * the time at which the ack count first exceeded what is visible (interpolated between reports).
 */
export function lagMs(series: readonly AckPoint[], at: number, visible: number): { ms: number; messages: number } {
  const last = series.at(-1)!;
  if (visible >= last.n) return { ms: 0, messages: 0 };
  let lo = 0;
  let hi = series.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (series[mid]!.n > visible) hi = mid;
    else lo = mid + 1;
  }
  const after = series[lo]!;
  const before = series[lo - 1];
  const crossed = before && after.n > before.n ? before.t + ((visible + 1 - before.n) / (after.n - before.n)) * (after.t - before.t) : after.t;
  return { ms: Math.max(0, at - crossed), messages: last.n - visible };
}

export function lagStats(samples: readonly { ms: number; messages: number }[]): Lag | null {
  if (samples.length === 0) return null;
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  return { p99Ms: Math.round(percentile(sorted, 99)), maxMs: Math.round(sorted.at(-1)!), maxMessages: Math.max(...samples.map((s) => s.messages)) };
}

/** CPU between two snapshots: servers, services and the load generator. */
export type CpuSnap = { servers: CpuSnapshot; services: Record<keyof ServicePids, CpuSnapshot>; gen: number; t: number };

export function cpuOf(before: CpuSnap, after: CpuSnap, deliveredPerSec: number): Cpu | null {
  const seconds = (after.t - before.t) / 1000;
  if (seconds <= 0 || deliveredPerSec <= 0) return null;
  const perMsg = (cpu: number): number => Math.round(((cpu / seconds) * 1000 / deliveredPerSec) * 1000) / 1000;
  const servers = cpuBetween(before.servers, after.servers);
  const pgCpu = cpuBetween(before.services.postgres, after.services.postgres);
  const redisCpu = cpuBetween(before.services.redis, after.services.redis);
  const rabbit = cpuBetween(before.services.rabbitmq, after.services.rabbitmq);
  return {
    seconds: Math.round(seconds * 100) / 100,
    servers: perMsg(servers), postgres: perMsg(pgCpu), redis: perMsg(redisCpu), rabbitmq: perMsg(rabbit),
    serverSide: perMsg(servers + pgCpu + redisCpu + rabbit), loadgen: perMsg(after.gen - before.gen),
  };
}
