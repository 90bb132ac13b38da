/**
 * Audit benchmark: `chat audit activity` and `chat audit verify` over a large log on PostgreSQL.
 *
 *   BENCH_EVENTS=1000000 node --import tsx bench/audit/run.ts
 *   BENCH_DATABASE_URL / DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)
 *
 * 1. Generates BENCH_EVENTS events (default 1,000,000) into a scratch schema with bulk appends: a few
 *    thousand users (register, login, logout), two chats per user (started, opened) and the messages,
 *    appended 200 per append to each chat in turn by 8 writers, so chats interleave in the log.
 * 2. Fills the live read models of the same schema in one pass through every projection (the verify
 *    replay machinery pointed at the live tables) and sets the checkpoints to the head.
 * 3. Runs the real CLI in child processes, with a preload that records each one's peak RSS (VmHWM):
 *    `chat audit activity --format jsonl --out /dev/null` and `chat audit verify --format json`.
 *    Events/s is events over the child's wall time (process start, ~1 s, included).
 * 4. Runs both again with the V8 heap capped (BENCH_HEAP_CAP_MIB, default 96; 0 skips): finishing
 *    under a cap far below the log's size shows memory is bounded by the page size, not the log, and
 *    the peak RSS there is what the process needs rather than what V8 chose to keep.
 * The scratch schema is dropped at the end.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { chatIdFor } from '../../domain/chat-id.js';
import type { DomainEvent } from '../../domain/events.js';
import { chatStreamId, userStreamId } from '../../domain/events.js';
import { toEventData } from '../../commands/ports/codec.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { createLogger } from '../../infra/logger.js';
import { emOf, openReadModelOrm, sqlOf } from '../../infra/read-models/orm.js';
import { createLogReplay } from '../../projections/audit/replay.js';
import type { VerifyReport } from '../../projections/audit/verify.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { advanceCheckpoints, ensureCheckpoints, liveTarget } from '../../projections/runtime/apply.js';

const TOTAL = Number(process.env['BENCH_EVENTS'] ?? 1_000_000);
const HEAP_CAP_MIB = Number(process.env['BENCH_HEAP_CAP_MIB'] ?? 96);
const URL = process.env['BENCH_DATABASE_URL'] ?? process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA = `bench_audit_${randomUUID().replace(/-/g, '').slice(0, 8)}`;
const ROOT = path.resolve(import.meta.dirname, '../..');
const logger = createLogger({ level: process.env['BENCH_LOG'] ?? 'warn', name: 'bench' });

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const mib = (kib: number): string => `${(kib / 1024).toFixed(0)} MiB`;
const WORDS = 'hello there how are you doing today fine thanks see you later sure ok great lunch meeting coffee tomorrow'.split(' ');
const body = (i: number): string => Array.from({ length: 3 + (i % 9) }, (_, k) => WORDS[(i + k * 31) % WORDS.length]).join(' ');

async function parallel<T>(items: T[], n: number, f: (x: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => { while (next < items.length) await f(items[next++]!); }));
}

async function generate(store: PostgresEventStore): Promise<void> {
  const users = Math.max(20, Math.round(TOTAL / 400));
  const ids = Array.from({ length: users }, (_, i) => `user${String(i).padStart(6, '0')}`);
  const chats = [...new Set(ids.flatMap((u, i) => [chatIdFor(u, ids[(i + 1) % users]!), chatIdFor(u, ids[(i + 7) % users]!)]))];
  const messages = TOTAL - users * 3 - chats.length * 2;
  if (messages < 0) throw new Error('BENCH_EVENTS is too small');
  // Times spread over about a month, so the per-day counts have many days.
  const start = Date.parse('2026-01-01T00:00:00Z');
  const step = (30 * 86_400_000) / TOTAL;
  let tick = 0;
  const at = (): string => new Date(start + step * tick++).toISOString();
  const ev = (e: DomainEvent) => toEventData(e, randomUUID());
  const hash = '$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hzYWx0$YmVuY2hoYXNoYmVuY2hoYXNo';

  await parallel(ids, 8, (u) => store.append(userStreamId(u), [
    ev({ type: 'UserRegistered', version: 1, data: { userId: u, username: u, passwordHash: hash, role: 'user', registeredAt: at() } }),
    ev({ type: 'UserLoggedIn', version: 1, data: { userId: u, at: at() } }),
  ], 'no_stream'));
  await parallel(chats, 8, (c) => {
    const [a, b] = c.split(':') as [string, string];
    return store.append(chatStreamId(c), [ev({ type: 'ChatStarted', version: 1, data: { chatId: c, participants: [a, b], startedBy: a, at: at() } })], 'no_stream');
  });
  await parallel(chats, 8, (c) => {
    const a = c.split(':')[0]!;
    return store.append(userStreamId(a), [ev({ type: 'ChatOpened', version: 1, data: { userId: a, chatId: c, at: at() } })], 'any');
  });
  const CHUNK = 200;
  const appends: Array<() => Promise<unknown>> = [];
  const sent = new Map<string, number>();
  for (let left = messages; left > 0; ) {
    for (const c of chats) {
      if (left <= 0) break;
      const n = Math.min(CHUNK, left);
      left -= n;
      const [a, b] = c.split(':') as [string, string];
      appends.push(() => {
        const events = Array.from({ length: n }, () => {
          const k = (sent.get(c) ?? 0) + 1;
          sent.set(c, k);
          return ev({ type: 'MessageSent', version: 2, data: { chatId: c, messageId: randomUUID(), senderId: k % 2 ? a : b, clientMessageId: `m${k}`, body: body(k), sentAt: at() } });
        });
        return store.append(chatStreamId(c), events, 'any');
      });
    }
  }
  await parallel(appends, 8, (f) => f());
  await parallel(ids, 8, (u) => store.append(userStreamId(u), [ev({ type: 'UserLoggedOut', version: 1, data: { userId: u, at: at() } })], 'any'));
}

interface ChildRun {
  code: number | null;
  seconds: number;
  hwmKiB: number;
  stdout: string;
  stderr: string;
}

/** The real `chat` CLI in a child process, with its peak RSS recorded by the preload. */
function runChat(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<ChildRun> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-audit-'));
  const hwmFile = path.join(dir, 'hwm.json');
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: URL, DATABASE_SCHEMA: SCHEMA, LOG_LEVEL: 'warn', BENCH_HWM_FILE: hwmFile, ...extraEnv };
  for (const k of ['EVENTSTORE_URL', 'REDIS_URL', 'AMQP_URL']) delete env[k];
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', path.join(ROOT, 'bench/audit/report-hwm.mjs'), path.join(ROOT, 'bin/chat.js'), ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      let hwmKiB = 0;
      try {
        hwmKiB = (JSON.parse(readFileSync(hwmFile, 'utf8')) as { hwmKiB: number }).hwmKiB;
      } catch {
        // the child died before its exit hook: reported as 0
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      resolve({ code, seconds, hwmKiB, stdout, stderr });
    });
  });
}

async function main(): Promise<void> {
  const admin = new pg.Client({ connectionString: URL });
  await admin.connect();
  console.log(`audit benchmark: ${fmt(TOTAL)} events, PostgreSQL ${URL.replace(/\/\/[^@]*@/, '//')}, schema ${SCHEMA}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}`);
  const store = await PostgresEventStore.open({ connectionString: URL, schema: SCHEMA, poolSize: 10 });
  try {
    let t0 = performance.now();
    await generate(store);
    const stored = Number((await admin.query(`SELECT count(*) AS n FROM "${SCHEMA}".events`)).rows[0].n);
    console.log(`generated ${fmt(stored)} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // The live read models, filled in one pass and checkpointed at the head, as a caught-up projector leaves them.
    t0 = performance.now();
    const orm = await openReadModelOrm({ kind: 'postgresql', connectionString: URL, schema: SCHEMA, poolSize: 4 }, logger);
    const head = await store.headPosition();
    const replay = createLogReplay({ db: orm.db, store, projections: SQL_PROJECTIONS, target: liveTarget(sqlOf(orm)) });
    await replay.advance(new Map(SQL_PROJECTIONS.map((p) => [p.name, head])));
    await ensureCheckpoints(orm.db, orm.db.sql, SQL_PROJECTIONS);
    await advanceCheckpoints(orm.db, orm.db.sql, SQL_PROJECTIONS.map((p) => p.name), head);
    await orm.close();
    const events = replay.progress.events;
    console.log(`live read models filled: ${fmt(events)} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await store.close();

    const activity = await runChat(['audit', 'activity', '--format', 'jsonl', '--out', '/dev/null']);
    if (activity.code !== 0) throw new Error(`audit activity failed (${activity.code}): ${activity.stderr}`);
    const rows = /audit: (\d+) rows from (\d+) events/.exec(activity.stderr);
    console.log(
      `chat audit activity --format jsonl: ${fmt(Number(rows?.[1] ?? 0))} rows from ${fmt(Number(rows?.[2] ?? 0))} events in ${activity.seconds.toFixed(1)} s ` +
        `= ${fmt(events / activity.seconds)} events/s, peak RSS ${mib(activity.hwmKiB)}`,
    );

    const runVerify = async (label: string, env: NodeJS.ProcessEnv = {}): Promise<void> => {
      const verify = await runChat(['audit', 'verify', '--format', 'json'], env);
      if (verify.code !== 0) throw new Error(`audit verify failed (${verify.code}): ${verify.stderr}\n${verify.stdout.slice(0, 2000)}`);
      const report = JSON.parse(verify.stdout) as VerifyReport;
      const rowsChecked = report.projections.flatMap((p) => p.tables).reduce((n, t) => n + t.liveRows, 0);
      console.log(
        `${label}: ok=${report.ok}, ${fmt(report.events)} events replayed and ${fmt(rowsChecked)} rows compared in ${verify.seconds.toFixed(1)} s ` +
          `= ${fmt(report.events / verify.seconds)} events/s (replay + compare inside: ${report.seconds.toFixed(1)} s), peak RSS ${mib(verify.hwmKiB)}`,
      );
    };
    await runVerify('chat audit verify');

    if (HEAP_CAP_MIB > 0) {
      const capped = { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --max-old-space-size=${HEAP_CAP_MIB}`.trim() };
      const a = await runChat(['audit', 'activity', '--format', 'jsonl', '--out', '/dev/null'], capped);
      if (a.code !== 0) throw new Error(`audit activity with a ${HEAP_CAP_MIB} MiB heap failed (${a.code}): ${a.stderr.slice(0, 2000)}`);
      console.log(`  heap capped at ${HEAP_CAP_MIB} MiB: audit activity in ${a.seconds.toFixed(1)} s = ${fmt(events / a.seconds)} events/s, peak RSS ${mib(a.hwmKiB)}`);
      await runVerify(`  heap capped at ${HEAP_CAP_MIB} MiB: audit verify`, capped);
    }
  } finally {
    await store.close().catch(() => undefined);
    await admin.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
    await admin.end();
  }
}

await main();
