// Aggregates the .cpuprofile files `npm run bench:e2e -- --profile` collects (node --cpu-prof on
// every process of ours) into where the CPU goes: per process role and per step of a message's way
// (decode, decide, append, log read-back, fan-out, relay, projector, Redis, ...). A sample belongs to
// the innermost frame of our own code on its stack, so library work (pg, ioredis, uWS) is charged to
// the step that called it; samples with no frame of ours (the pg driver parsing a reply, a socket
// read) are charged to the library. Only samples inside the measuring window count when the run
// recorded one. Usage: node --import tsx bench/e2e/profile.ts <dir> (or imported by run.ts).
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Written by run.ts beside the profiles: which role each pid had, and the measuring window. */
export interface ProfileMeta {
  roles: Record<string, string>;
  /** CLOCK_MONOTONIC microseconds (process.hrtime), the clock V8's profiler stamps samples with. */
  windowUs?: [number, number];
  /** Messages delivered in the window, to express CPU per message. */
  messages?: number;
}

/** Our source path of a frame (dist/ folded onto the sources), or null for libraries and Node itself. */
function ownPath(url: string): string | null {
  if (!url.includes(ROOT) || url.includes('/node_modules/')) return null;
  const rel = url.slice(url.indexOf(ROOT) + ROOT.length + 1);
  return rel.startsWith('dist/') ? rel.slice(5) : rel;
}

function library(url: string, fn: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) {
    const pkg = m[1]!;
    if (pkg === 'pg' || pkg.startsWith('pg-')) return 'pg driver';
    if (pkg === 'ioredis' || pkg === 'redis-parser' || pkg.startsWith('@ioredis')) return 'Redis client';
    if (pkg === 'amqplib' || pkg === 'buffer-more-ints') return 'AMQP client';
    if (pkg === 'uWebSockets.js') return 'uWS';
    if (pkg === 'pino' || pkg === 'sonic-boom' || pkg === 'thread-stream') return 'logging';
    if (pkg === 'tsx' || pkg === 'esbuild') return 'tsx loader';
    return `lib: ${pkg}`;
  }
  if (url.startsWith('node:') || url === '') return fn.startsWith('(') ? fn : 'node internals';
  return 'other';
}

/** The step our own frame belongs to. */
function stepOf(rel: string, fn: string): string {
  if (rel.startsWith('domain/')) return 'decide';
  if (rel.startsWith('commands/')) return 'command handling';
  if (/^gateways\/ws\/(client-frames|protocol)\.ts/.test(rel)) return 'decode';
  if (rel.startsWith('gateways/ws/delivery')) return 'fan-out';
  if (/^gateways\/ws\/(log-feed|backlog)/.test(rel)) return 'log read-back';
  if (/^gateways\/ws\/(session-watch|auth)/.test(rel) || rel.startsWith('infra/sessions/')) return 'sessions';
  if (rel.startsWith('gateways/ws/')) return 'ws connection';
  if (rel.startsWith('infra/event-store/')) {
    if (/read|subscri|pull|tail|listen|wake|page|notify|decode|record/i.test(fn)) return 'log read-back';
    return 'append';
  }
  if (/^infra\/broker\/(relay|event-sink)/.test(rel)) return 'relay';
  if (rel.startsWith('infra/broker/consumer') || rel.startsWith('infra/broker/processes')) return 'projector';
  if (rel.startsWith('infra/broker/')) return 'AMQP connection';
  if (rel.startsWith('projections/last-messages') || rel.startsWith('infra/last-messages/')) return 'Redis view';
  if (rel.startsWith('projections/') || rel.startsWith('infra/read-models/')) return 'projector';
  if (rel.startsWith('infra/logger') || rel.startsWith('infra/error-log/')) return 'logging';
  if (rel.startsWith('gateways/http/')) return 'http api';
  return `other: ${rel}`;
}

interface Tally {
  /** µs of CPU (samples not idle) in the window, by step and by self function. */
  busyUs: number;
  idleUs: number;
  steps: Map<string, number>;
  selfFns: Map<string, number>;
  profiles: number;
}

function tallyProfile(p: CpuProfile, into: Tally, windowUs?: [number, number]): void {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const stepCache = new Map<number, string>();
  const classify = (id: number): string => {
    const hit = stepCache.get(id);
    if (hit) return hit;
    const leaf = byId.get(id)!.callFrame;
    let step: string | null = null;
    if (leaf.functionName === '(garbage collector)') step = 'GC';
    else if (leaf.functionName === '(program)') step = '(program: native, not attributed)';
    else if (leaf.functionName === '(idle)') step = '(idle)';
    for (let cur: number | undefined = id; step === null && cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      const own = ownPath(f.url);
      if (own) step = stepOf(own, f.functionName);
    }
    // No frame of ours: the innermost library on the stack did it (a socket write the pg driver
    // started from its own callback is the pg driver's), else Node itself.
    for (let cur: number | undefined = id; step === null && cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (f.url.includes('/node_modules/')) step = library(f.url, f.functionName);
    }
    step ??= library(leaf.url, leaf.functionName);
    stepCache.set(id, step);
    return step;
  };
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    const dt = p.timeDeltas[i + 1] ?? 0;
    if (windowUs && (t < windowUs[0] || t > windowUs[1])) continue;
    const id = p.samples[i]!;
    const step = classify(id);
    if (step === '(idle)') {
      into.idleUs += dt;
      continue;
    }
    into.busyUs += dt;
    into.steps.set(step, (into.steps.get(step) ?? 0) + dt);
    const f = byId.get(id)!.callFrame;
    const where = ownPath(f.url) ?? (/node_modules\/(.*)$/.exec(f.url)?.[1] ?? f.url);
    const key = `${f.functionName || '(anonymous)'} ${where}${where ? `:${f.lineNumber + 1}` : ''}`;
    into.selfFns.set(key, (into.selfFns.get(key) ?? 0) + dt);
  }
}

const pct = (part: number, whole: number): string => (whole > 0 ? `${((part / whole) * 100).toFixed(1)} %` : '-');

/** Reads every profile in `dir` and returns the breakdown as Markdown. */
export function analyzeProfiles(dir: string): string {
  let meta: ProfileMeta = { roles: {} };
  try {
    meta = JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8')) as ProfileMeta;
  } catch {
    // no meta: every profile counts whole, roles unknown
  }
  const byRole = new Map<string, Tally>();
  let windowHit = false;
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  for (const f of files) {
    const [, pid = '?', tid = '0'] = /\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(f) ?? [];
    // Thread 0 is the main thread; others are worker threads (tsx's loader when running from sources).
    const role = `${meta.roles[pid] ?? `pid ${pid}`}${tid === '0' ? '' : ' (worker thread)'}`;
    const p = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as CpuProfile;
    // The window applies only if it overlaps the profile (same clock); otherwise the whole profile counts.
    const w = meta.windowUs && meta.windowUs[0] < p.endTime && meta.windowUs[1] > p.startTime ? meta.windowUs : undefined;
    if (w) windowHit = true;
    let t = byRole.get(role);
    if (!t) byRole.set(role, (t = { busyUs: 0, idleUs: 0, steps: new Map(), selfFns: new Map(), profiles: 0 }));
    t.profiles++;
    tallyProfile(p, t, w);
  }
  const total = [...byRole.values()].reduce((s, t) => s + t.busyUs, 0);
  const perMsg = (us: number): string => (meta.messages ? `${(us / meta.messages).toFixed(1)}` : '-');
  const out: string[] = [];
  out.push(`Profiles: ${files.length} (${[...byRole].map(([r, t]) => `${r} ×${t.profiles}`).join(', ')}); `
    + `${windowHit ? 'samples inside the measuring window only' : 'whole profiles (start-up included)'}; `
    + `${meta.messages ?? '?'} messages delivered in the window; busy CPU ${(total / 1000).toFixed(0)} ms in all.`);
  out.push('', '| process | busy CPU ms | µs per message | share of all busy CPU | its top steps |', '|---|---|---|---|---|');
  for (const [role, t] of [...byRole].sort((a, b) => b[1].busyUs - a[1].busyUs)) {
    if (t.busyUs < total * 0.002) continue;
    const top = [...t.steps].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([s, us]) => `${s} ${pct(us, t.busyUs)}`).join(', ');
    out.push(`| ${role} | ${(t.busyUs / 1000).toFixed(0)} | ${perMsg(t.busyUs)} | ${pct(t.busyUs, total)} | ${top} |`);
  }
  const steps = new Map<string, Map<string, number>>();
  for (const [role, t] of byRole) for (const [s, us] of t.steps) {
    let m = steps.get(s);
    if (!m) steps.set(s, (m = new Map()));
    m.set(role, (m.get(role) ?? 0) + us);
  }
  const stepTotal = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
  out.push('', '| step | CPU ms | µs per message | share | where (process: ms) |', '|---|---|---|---|---|');
  for (const [s, m] of [...steps].sort((a, b) => stepTotal(b[1]) - stepTotal(a[1]))) {
    const us = stepTotal(m);
    if (us < total * 0.002) continue;
    out.push(`| ${s} | ${(us / 1000).toFixed(0)} | ${perMsg(us)} | ${pct(us, total)} | ${[...m].sort((a, b) => b[1] - a[1]).map(([r, v]) => `${r}: ${(v / 1000).toFixed(0)}`).join(', ')} |`);
  }
  const fns = new Map<string, number>();
  for (const [role, t] of byRole) for (const [k, us] of t.selfFns) fns.set(`${role}: ${k}`, (fns.get(`${role}: ${k}`) ?? 0) + us);
  out.push('', 'Top self time (function, file:line):', '');
  for (const [k, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, 25)) out.push(`- ${pct(us, total)} ${k}`);
  return out.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${analyzeProfiles(process.argv[2] ?? '.')}\n`);
}
