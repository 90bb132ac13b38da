// The load generator: a separate process that opens the authenticated client pairs against one of
// the three servers (ours, the Socket.IO baseline, raw uWS), sends at a fixed total rate, and
// measures in this one process the time from each send to the partner's receipt. It steps the rate
// up and reports one JSON line per stage on stdout; `idle` mode instead opens N sockets and holds
// them (memory per idle socket). Usage: node --import tsx bench/ws/load.ts <config.json> [idle N]
// The clients of each server are in clients.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { cpuSeconds, cpuWaitSeconds, percentile, pidsNamed, rssBytes, type BenchUser, type LoadConfig, type StageReport, type StageResult } from './common.js';
import { OPENERS, RECEIPTS, out, readsSent, refused, reopened, retried, unansweredResumes, type Handlers } from './clients.js';

/** Messages/s during the warm-up. */
const WARMUP_RATE = 1000;
const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadConfig;

async function inBatches<T>(n: number, batch: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const all: T[] = [];
  for (let i = 0; i < n; i += batch) {
    const part = await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, k) => make(i + k)));
    all.push(...part);
  }
  return all;
}

// ---- idle: open N authenticated sockets and hold them ----

async function idle(n: number): Promise<void> {
  const noop: Handlers = { received: () => undefined, acked: () => undefined };
  const users = config.pairs.flatMap((p) => [p.a, p.b]);
  const started = Date.now();
  const sockets = await inBatches(n, 200, (i) => OPENERS[config.mode](config.urls[0]!, users[i % users.length]!, null, noop));
  out({ event: 'idle-ready', sockets: sockets.length, openMs: Date.now() - started });
  // Held until the orchestrator has measured and closes stdin.
  await new Promise<void>((resolve) => {
    process.stdin.on('end', resolve);
    process.stdin.on('close', resolve);
    process.stdin.resume();
  });
  for (const s of sockets) s.close();
}

// ---- load: stepped rates ----

interface InFlight {
  sentAt: number;
  /** Sent during the measuring window: counts towards the stage's figures. */
  measured: boolean;
}

async function load(): Promise<void> {
  const pending = new Map<number, InFlight>();
  const latencies: number[] = [];
  const slowAt: number[] = [];
  let delivered = 0;
  let acked = 0;
  let duplicates = 0;
  /**
   * Messages given up on (still pending when the warm-up or a stage's drain ended). One delivered
   * later is late, not a duplicate: it was never delivered before.
   */
  const givenUp = new Set<number>();
  let late = 0;
  const giveUpPending = (): void => {
    for (const s of pending.keys()) givenUp.add(s);
    pending.clear();
  };
  const measuredAcked = new Set<number>();
  /** Send times of measured messages not yet acked (the ack latency: the write path alone). */
  const sentAt = new Map<number, number>();
  const ackLatencies: number[] = [];
  const ackedSeqs: number[] = [];
  let stopRequested = false;
  if (config.stopOnStdin) {
    process.stdin.on('data', () => { stopRequested = true; });
    process.stdin.resume();
  }
  const handlersFor = (self: BenchUser): Handlers => ({
    received(seq, senderId) {
      if (senderId === self.userId) return; // our own message echoed to us (for other devices)
      const p = pending.get(seq);
      if (!p) {
        if (givenUp.delete(seq)) late++;
        else duplicates++;
        return;
      }
      pending.delete(seq);
      if (p.measured) {
        const latency = performance.now() - p.sentAt;
        latencies.push(latency);
        // Slow deliveries by send time (100 ms buckets): clustered means a stall somewhere, spread means load.
        if (latency > config.p99LimitMs) slowAt.push(Math.floor(p.sentAt / 100));
        delivered++;
      }
    },
    acked(seq) {
      acked++;
      if (config.ackedFile) ackedSeqs.push(seq);
      measuredAcked.add(seq);
      const at = sentAt.get(seq);
      if (at !== undefined) {
        ackLatencies.push(performance.now() - at);
        sentAt.delete(seq);
      }
    },
  });
  const opener = OPENERS[config.mode];
  // A socket the server closed or refused while connecting is opened again (counted), up to 3 times.
  const open: typeof opener = async (url, user, chatId, h) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await opener(url, user, chatId, h);
      } catch (err) {
        if (attempt >= 3) throw err;
        reopened.count++;
        await new Promise((res) => setTimeout(res, 500));
      }
    }
  };
  const n = config.urls.length;
  const ends = await inBatches(config.pairs.length, 50, async (i) => {
    const p = config.pairs[i]!;
    const a = await open(config.urls[0]!, p.a, p.chatId, handlersFor(p.a));
    const b = await open(config.urls[1 % n]!, p.b, p.chatId, handlersFor(p.b));
    return { chatId: p.chatId, a, b };
  });
  out({ event: 'connected', pairs: ends.length, unansweredResumes: unansweredResumes.count, reopened: reopened.count });
  const ackTimer = config.ackReportMs ? setInterval(() => out({ event: 'acks', t: Date.now(), n: acked }), config.ackReportMs) : null;
  const body = 'x'.repeat(config.bodyBytes);
  let seq = 0;
  /** Sends the next message, round-robin over the pairs; returns its sequence number. */
  const sendNext = (measured: boolean): number => {
    const pair = ends[seq % ends.length]!;
    const s = seq++;
    pending.set(s, { sentAt: performance.now(), measured });
    // Alternate the direction per round over the pairs, so both processes write.
    (Math.floor(s / ends.length) % 2 === 0 ? pair.a : pair.b).send(pair.chatId, s, body);
    return s;
  };
  // Warm-up, not measured, the same for every server: a few messages each way in every chat at a
  // modest rate, so that no stage pays for first-time work (JIT, pools, per-chat state) and the
  // search does not stop at a low rate on a cold start.
  const warmupMessages = ends.length * 4;
  const warmupStart = performance.now();
  for (let sent = 0; sent < warmupMessages; ) {
    const due = Math.min(warmupMessages, Math.floor(((performance.now() - warmupStart) / 1000) * WARMUP_RATE));
    for (; sent < due; sent++) sendNext(false);
    await new Promise((res) => setTimeout(res, 2));
  }
  const warmupUntil = performance.now() + 10_000;
  while (pending.size > 0 && performance.now() < warmupUntil) await new Promise((res) => setTimeout(res, 20));
  giveUpPending();
  await new Promise((res) => setTimeout(res, 1000));
  out({ event: 'warmed-up', messages: warmupMessages, ms: Math.round(performance.now() - warmupStart) });
  // A stage over the limit is run once more: on a shared machine one hiccup (another process's
  // burst, a GC pause) must not decide a stage. A rate that fails both tries does not end the search
  // either; two such rates in a row do, and so does a stage that could not keep up at all.
  let retriedRate = -1;
  let failedRatesInARow = 0;
  for (let r = 0; r < config.rates.length && !stopRequested; r++) {
    const rate = config.rates[r]!;
    out({ event: 'stage-start', offered: rate, t: Date.now() });
    // Reset per stage.
    latencies.length = 0;
    slowAt.length = 0;
    ackLatencies.length = 0;
    sentAt.clear();
    delivered = 0;
    let measuredSent = 0;
    let measuredAckedCount = 0;
    measuredAcked.clear();
    const measuredSeqs: number[] = [];
    const start = performance.now();
    const measureFrom = start + config.warmupMs;
    const measureTo = measureFrom + config.measureMs;
    let sentThisStage = 0;
    let cpu0 = 0;
    let backingAtStart = new Map<number, number>();
    let self0 = 0;
    let wait0 = 0;
    let selfWait0 = 0;
    let cpuTaken = false;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const now = performance.now();
        if (!cpuTaken && now >= measureFrom) {
          cpuTaken = true;
          cpu0 = config.serverPids.reduce((s, pid) => s + cpuSeconds(pid), 0);
          // Re-listed per stage: connection pools open backends as they grow.
          backingAtStart = new Map(pidsNamed(['postgres', 'redis-server']).map((pid) => [pid, cpuSeconds(pid)]));
          self0 = process.cpuUsage().user + process.cpuUsage().system;
          wait0 = config.serverPids.reduce((s, pid) => s + cpuWaitSeconds(pid), 0);
          selfWait0 = cpuWaitSeconds(process.pid);
          out({ event: 'measure-start', offered: rate, t: Date.now() });
        }
        if (now >= measureTo) {
          clearInterval(timer);
          out({ event: 'measure-end', offered: rate, t: Date.now() });
          resolve();
          return;
        }
        // Fixed rate: send what is due by now, whatever the timer's jitter.
        const due = Math.floor(((now - start) / 1000) * rate);
        const measured = now >= measureFrom;
        for (; sentThisStage < due; sentThisStage++) {
          const s = sendNext(measured);
          if (measured) {
            sentAt.set(s, pending.get(s)!.sentAt);
            measuredSent++;
            measuredSeqs.push(s);
          }
        }
      };
      const timer = setInterval(tick, 2);
    });
    const seconds = config.measureMs / 1000;
    const serverCpu = ((config.serverPids.reduce((s, pid) => s + cpuSeconds(pid), 0) - cpu0) / seconds) * 100;
    // Per process, and only those still there: a backend that exited meanwhile reads as 0.
    let backingSeconds = 0;
    for (const [pid, before] of backingAtStart) {
      const after = cpuSeconds(pid);
      if (after >= before) backingSeconds += after - before;
    }
    const backingCpu = (backingSeconds / seconds) * 100;
    const selfCpu = ((process.cpuUsage().user + process.cpuUsage().system - self0) / 1e6 / seconds) * 100;
    const serverWait = ((config.serverPids.reduce((s, pid) => s + cpuWaitSeconds(pid), 0) - wait0) / seconds / config.serverPids.length) * 100;
    const selfWait = ((cpuWaitSeconds(process.pid) - selfWait0) / seconds) * 100;
    const rss = config.serverPids.reduce((s, pid) => s + rssBytes(pid), 0);
    const deliveredInWindow = delivered;
    // Drain: stragglers still count as delivered (with their latency); what never comes is lost.
    const drainUntil = performance.now() + config.drainMs;
    while (performance.now() < drainUntil && measuredSeqs.some((s) => pending.has(s))) await new Promise((r) => setTimeout(r, 20));
    for (const s of measuredSeqs) if (measuredAcked.has(s)) measuredAckedCount++;
    const lost = measuredSeqs.filter((s) => pending.has(s)).length;
    giveUpPending();
    latencies.sort((x, y) => x - y);
    ackLatencies.sort((x, y) => x - y);
    const p99 = percentile(latencies, 99);
    const result: StageResult = {
      offered: rate,
      sent: measuredSent,
      delivered,
      deliveredPerSec: Math.round(deliveredInWindow / seconds),
      acked: measuredAckedCount,
      ackRate: measuredSent === 0 ? 0 : measuredAckedCount / measuredSent,
      lost,
      p50: round(percentile(latencies, 50)),
      p99: round(p99),
      max: round(latencies.at(-1) ?? Number.NaN),
      ackP50: round(percentile(ackLatencies, 50)),
      ackP99: round(percentile(ackLatencies, 99)),
      serverCpuPct: Math.round(serverCpu),
      backingCpuPct: Math.round(backingCpu),
      loadgenCpuPct: Math.round(selfCpu),
      serverCpuWaitPct: Math.round(serverWait),
      loadgenCpuWaitPct: Math.round(selfWait),
      serverRssMiB: Math.round(rss / 1024 / 1024),
      ok: lost === 0 && p99 <= config.p99LimitMs && deliveredInWindow >= 0.95 * measuredSent,
    };
    const slowBuckets = new Map<number, number>();
    for (const b of slowAt) slowBuckets.set(b, (slowBuckets.get(b) ?? 0) + 1);
    const slowestBuckets = [...slowBuckets.values()].sort((x, y) => y - x).slice(0, 5);
    const report: StageReport = {
      ...result, duplicates, late, conflictRetries: retried.count, refusedAtCapacity: refused.count, retry: retriedRate === rate,
      slow: slowAt.length, slowBuckets: slowBuckets.size, slowestBuckets,
    };
    out({ event: 'stage', ...report, ...(RECEIPTS ? { readsSent: readsSent.count } : {}) });
    if (result.ok) {
      failedRatesInARow = 0;
    } else if (retriedRate !== rate) {
      retriedRate = rate;
      r--;
      await new Promise((res) => setTimeout(res, 1000));
    } else {
      failedRatesInARow++;
      const swamped = result.deliveredPerSec < 0.8 * rate;
      if (failedRatesInARow >= 2 || swamped) break;
      await new Promise((res) => setTimeout(res, 1000));
    }
  }
  if (ackTimer) clearInterval(ackTimer);
  out({ event: 'acks', t: Date.now(), n: acked });
  if (config.ackedFile) writeFileSync(config.ackedFile, JSON.stringify(ackedSeqs));
  for (const e of ends) {
    e.a.close();
    e.b.close();
  }
}

const round = (x: number): number => Math.round(x * 10) / 10;

if (process.argv[3] === 'idle') await idle(Number(process.argv[4] ?? 10_000));
else await load();
process.exit(0);
