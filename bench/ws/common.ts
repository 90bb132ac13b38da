// Shared by the WebSocket benchmark's orchestrator (run.ts) and load generator (load.ts): the
// configuration handed to the generator, what it reports, and process accounting from /proc.
import { readFileSync, readdirSync } from 'node:fs';

/** `seed`: the seed's own architecture (bench/baselines/seed-server.ts), spoken to like `socketio`. */
export type Mode = 'ours' | 'socketio' | 'raw' | 'seed';

/** Offered total send rates (messages/s) both benchmarks step through by default. */
export const DEFAULT_RATES = [500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000, 6000, 8000, 10_000, 12_500, 15_000, 20_000, 25_000, 30_000, 35_000, 40_000, 45_000, 50_000, 60_000];
/** A stage counts only if the partner receives 99 % of the messages within this many ms of the send. */
export const P99_LIMIT_MS = 50;
/**
 * Client pairs (one chat each). 2,000: at 4,000 msg/s each chat then gets a message every 0.5 s,
 * alternating sides, already far busier than people type; with 500, every chat would take one every
 * 125 ms, and the benchmark would measure write contention on single chats more than throughput.
 */
export const DEFAULT_PAIRS = 2000;

export interface BenchUser {
  userId: string;
  token: string;
}

export interface BenchPair {
  chatId: string;
  a: BenchUser;
  b: BenchUser;
}

export interface LoadConfig {
  mode: Mode;
  /** Base URLs: side a of each pair connects to urls[0], side b to urls[1 % n] (so ours crosses processes). */
  urls: string[];
  pairs: BenchPair[];
  /** Offered total send rates (messages/s), stepped up until one fails. */
  rates: number[];
  warmupMs: number;
  measureMs: number;
  /** How long to wait after a stage for stragglers before counting them lost. */
  drainMs: number;
  /** Server processes whose CPU and RSS are reported. */
  serverPids: number[];
  p99LimitMs: number;
  bodyBytes: number;
  /** bench/e2e: print the running count of acks every this many ms ({"event":"acks","t":epochMs,"n":N}). */
  ackReportMs?: number;
  /** bench/e2e: write every acknowledged sequence number here (JSON array) before exiting. */
  ackedFile?: string;
  /** bench/e2e: a line on stdin ends the stepping after the current stage (the read side fell behind). */
  stopOnStdin?: boolean;
}

export interface StageResult {
  offered: number;
  sent: number;
  delivered: number;
  /** Delivered messages per second over the measuring window (each message counted once, at the partner). */
  deliveredPerSec: number;
  acked: number;
  ackRate: number;
  lost: number;
  p50: number;
  p99: number;
  max: number;
  /** Send to the sender's ack: the write path alone. */
  ackP50: number;
  ackP99: number;
  /** CPU of the server processes, in % of one core, summed. */
  serverCpuPct: number;
  /** CPU of every postgres and redis-server process on the machine, % of one core. */
  backingCpuPct: number;
  loadgenCpuPct: number;
  /**
   * Share of the window the servers' event-loop threads were ready to run but waited for a core
   * (mean per process), and the same for the generator: where this is high, the machine's cores,
   * not the server's own work, set the latency.
   */
  serverCpuWaitPct: number;
  loadgenCpuWaitPct: number;
  serverRssMiB: number;
  ok: boolean;
}

/** What the load generator prints per stage: the result, and what run.ts reports beside it. */
export interface StageReport extends StageResult {
  /** Deliveries of a message already delivered, since the start. */
  duplicates: number;
  /** Deliveries of a message given up on earlier (after the warm-up or a stage's drain), since the start. */
  late: number;
  /** Sends answered CONCURRENCY_CONFLICT and sent again, and sends refused by a gateway at capacity, so far. */
  conflictRetries: number;
  refusedAtCapacity: number;
  /** The second try of a rate. */
  retry: boolean;
  /** Deliveries over the p99 limit, the distinct 100 ms send windows they fall in, and the fullest windows. */
  slow: number;
  slowBuckets: number;
  slowestBuckets: number[];
}

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux x86-64

/** utime + stime of a process, in seconds; 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/**
 * How long a process's main thread (for Node, the event loop) has been runnable but waiting for a
 * core, in seconds: the run delay of /proc/<pid>/schedstat. 0 when it is gone or the kernel does not say.
 */
export function cpuWaitSeconds(pid: number): number {
  try {
    const waitNs = Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ')[1]);
    return Number.isFinite(waitNs) ? waitNs / 1e9 : 0;
  } catch {
    return 0;
  }
}

export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Pids of processes whose command name is one of `names` (postgres, redis-server). */
export function pidsNamed(names: readonly string[]): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (names.some((n) => comm.startsWith(n))) out.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
