/**
 * Projector benchmark: 100k realistic events in a PostgreSQL event store (scratch schema), then the
 * SQL read models (another scratch schema) fed (a) live, through applyBatch in consumer-sized
 * batches, and (b) by a blue/green rebuild of each projection. Both schemas are dropped at the end.
 *
 *   node --import tsx bench/projector/run.ts [--events 100000] [--batch 200] [--live-only] [--orm]
 *   BENCH_DATABASE_URL / DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { DomainEvent } from '../../domain/events.js';
import { chatStreamId, userStreamId } from '../../domain/events.js';
import { chatIdFor } from '../../domain/chat-id.js';
import { toEventData } from '../../commands/ports/codec.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { toPublicRecord, type PublicRecord } from '../../projections/ports/public-record.js';
import { createLogger } from '../../infra/logger.js';
import { openReadModelOrm } from '../../infra/read-models/orm.js';
import { directPgDb } from '../../infra/read-models/pg-db.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { cpuBetween, clientPortsOf, snapshot, type CpuSnapshot } from '../e2e/cpu.js';
import { rebuildProjection } from '../../projections/runtime/rebuild.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { numberArg } from '../args.js';

const TOTAL = numberArg('events', 100_000);
/** --live-only: skip the rebuilds (b), which do not take the live path. */
const LIVE_ONLY = process.argv.includes('--live-only');
/** --orm: the live path through MikroORM's connection instead of the projector's direct pg pool (to compare). */
const VIA_ORM = process.argv.includes('--orm');
const BATCH = numberArg('batch', 200);
const URL = process.env['BENCH_DATABASE_URL'] ?? process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const suffix = randomUUID().replace(/-/g, '').slice(0, 8);
const ES_SCHEMA = `bench_es_${suffix}`;
const RM_SCHEMA = `bench_rm_${suffix}`;
const logger = createLogger({ level: process.env['BENCH_LOG'] ?? 'warn', name: 'bench' });

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const WORDS = 'hello there how are you doing today fine thanks see you later sure ok great lunch meeting coffee tomorrow'.split(' ');
function body(i: number): string {
  const n = 2 + ((i * 7919) % 30);
  return Array.from({ length: n }, (_, k) => WORDS[(i + k * 31) % WORDS.length]).join(' ');
}

/** Appends the history: user streams, then chats whose messages arrive in interleaved rounds of appends. */
async function generate(store: PostgresEventStore): Promise<void> {
  const users = Math.max(10, Math.round(TOTAL / 200));
  const chats = users * 2;
  const perUser = 4; // register, 2 logins, 1 chat opened
  const messages = TOTAL - users * perUser - chats;
  const clock = { t: Date.parse('2026-01-01T00:00:00Z') };
  const at = (): string => new Date((clock.t += 7)).toISOString();
  const ev = (e: DomainEvent) => toEventData(e, randomUUID());
  const ids = Array.from({ length: users }, (_, i) => `user${String(i).padStart(5, '0')}`);
  const pairs = Array.from({ length: chats }, (_, i) => [ids[i % users]!, ids[(i * 7 + 1 + Math.floor(i / users)) % users]!] as const)
    .map(([a, b]) => (a === b ? ([a, ids[(ids.indexOf(b) + 1) % users]!] as const) : ([a, b] as const)));
  const chatIds = pairs.map(([a, b]) => chatIdFor(a, b));
  const unique = [...new Set(chatIds)];

  const parallel = async <T>(items: T[], n: number, f: (x: T) => Promise<unknown>): Promise<void> => {
    let next = 0;
    await Promise.all(Array.from({ length: n }, async () => { while (next < items.length) await f(items[next++]!); }));
  };

  await parallel(ids, 8, (u) =>
    store.append(userStreamId(u), [
      ev({ type: 'UserRegistered', version: 1, data: { userId: u, username: u, passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$bench$bench', role: 'user', registeredAt: at() } }),
      ev({ type: 'UserLoggedIn', version: 1, data: { userId: u, at: at() } }),
    ], 'no_stream'));
  const extra = users * perUser - users * 2 - unique.length + chats; // keep the total exact
  await parallel(unique, 8, (c) => {
    const [a, b] = c.split(':') as [string, string];
    return store.append(chatStreamId(c), [ev({ type: 'ChatStarted', version: 1, data: { chatId: c, participants: [a, b], startedBy: a, at: at() } })], 'no_stream');
  });
  const tail: Array<() => Promise<unknown>> = [];
  for (let i = 0; i < extra; i++) {
    const u = ids[i % users]!;
    const c = unique[i % unique.length]!;
    tail.push(() => store.append(userStreamId(u), [
      i % 2 ? ev({ type: 'ChatOpened', version: 1, data: { userId: u, chatId: c, at: at() } }) : ev({ type: 'UserLoggedIn', version: 1, data: { userId: u, at: at() } }),
    ], 'any'));
  }
  await parallel(tail, 8, (f) => f());
  // Messages: rounds of 25 per chat per append, so chats interleave in the log as they would live.
  const CHUNK = 25;
  let left = messages;
  const perChat = new Map<string, number>();
  const appends: Array<() => Promise<unknown>> = [];
  for (let round = 0; left > 0; round++) {
    for (const c of unique) {
      if (left <= 0) break;
      const n = Math.min(CHUNK, left);
      left -= n;
      const [a, b] = c.split(':') as [string, string];
      const events = Array.from({ length: n }, () => {
        const k = (perChat.get(c) ?? 0) + 1;
        perChat.set(c, k);
        return ev({
          type: 'MessageSent', version: 2,
          data: { chatId: c, messageId: randomUUID(), senderId: k % 2 ? a : b, clientMessageId: `m${k}`, body: body(k + round), sentAt: at() },
        });
      });
      appends.push(() => store.append(chatStreamId(c), events, 'any'));
    }
  }
  await parallel(appends, 8, (f) => f());
}

async function readAll(store: PostgresEventStore): Promise<PublicRecord[]> {
  const out: PublicRecord[] = [];
  for (let after = 0n; ; ) {
    const page = await store.readAll({ after, maxCount: 5000 });
    if (page.length === 0) return out;
    for (const e of page) out.push(toPublicRecord(e));
    after = page[page.length - 1]!.position;
  }
}

/** The PostgreSQL backends serving this process (by its client ports), as CPU seconds now. */
async function backendCpu(admin: pg.Client): Promise<CpuSnapshot> {
  const port = Number(new globalThis.URL(URL).port || 5432);
  const ports = clientPortsOf([process.pid], port);
  const { rows } = await admin.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[]) AND pid <> pg_backend_pid()`, [ports]);
  return snapshot(rows.map((r) => r.pid));
}

async function main(): Promise<void> {
  const admin = new pg.Client({ connectionString: URL });
  await admin.connect();
  const store = await PostgresEventStore.open({ connectionString: URL, schema: ES_SCHEMA, poolSize: 10 });
  const orm = await openReadModelOrm({ kind: 'postgresql', connectionString: URL, schema: RM_SCHEMA, poolSize: 4 }, logger);
  try {
    console.log(`projector benchmark: ${fmt(TOTAL)} events, PostgreSQL ${URL.replace(/\/\/[^@]*@/, '//')}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}`);
    let t0 = performance.now();
    await generate(store);
    // Readers see only events below the cluster-wide xmin: wait out any transaction still open elsewhere.
    const stored = Number((await admin.query(`SELECT count(*) AS n FROM "${ES_SCHEMA}".events`)).rows[0].n);
    let records = await readAll(store);
    for (let i = 0; records.length < stored && i < 60; i++) {
      console.log(`  ${fmt(records.length)} of ${fmt(stored)} events visible; waiting for older transactions in the cluster to end`);
      await new Promise((r) => setTimeout(r, 1000));
      records = await readAll(store);
    }
    console.log(`generated ${fmt(records.length)} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const counts = new Map<string, number>();
    for (const r of records) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
    console.log(`  ${[...counts].map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`);

    // (a) live: the consumer's path, batches of BATCH records, all projections per transaction.
    const direct = directPgDb(orm.db, { connectionString: URL, schema: RM_SCHEMA, poolSize: 4 });
    const projector = createSqlProjector({ db: VIA_ORM ? orm.db : direct, projections: SQL_PROJECTIONS, logger });
    await projector.checkpoints(); // opens the pool and creates the checkpoint rows outside the window
    const pgBefore = await backendCpu(admin);
    const nodeBefore = process.cpuUsage();
    t0 = performance.now();
    let applied = 0;
    for (let i = 0; i < records.length; i += BATCH) {
      const r = await projector.applyBatch(records.slice(i, i + BATCH));
      if (r.failed.length > 0) throw new Error(`failures: ${String(r.failed[0]!.error)}`);
      applied += r.applied;
    }
    const liveSeconds = (performance.now() - t0) / 1000;
    const nodeCpu = process.cpuUsage(nodeBefore);
    // Backends that opened meanwhile count from their start (cpuBetween); every one of ours is still open.
    const pgSeconds = cpuBetween(pgBefore, await backendCpu(admin));
    const nodeUs = (nodeCpu.user + nodeCpu.system) / applied;
    const pgUs = (pgSeconds * 1e6) / applied;
    await direct.close();
    console.log(`(a) live applyBatch${VIA_ORM ? ' (through the ORM)' : ''}, batches of ${BATCH}, ${SQL_PROJECTIONS.length} projections: ${fmt(applied)} events in ${liveSeconds.toFixed(2)} s = ${fmt(applied / liveSeconds)} events/s`);
    console.log(`    CPU per event: Node ${nodeUs.toFixed(1)} µs, PostgreSQL backends ${pgUs.toFixed(1)} µs, together ${(nodeUs + pgUs).toFixed(1)} µs`);
    if (LIVE_ONLY) return;

    // (b) rebuild of each projection from the log (reads included).
    let total = 0;
    let seconds = 0;
    for (const p of SQL_PROJECTIONS) {
      const r = await rebuildProjection({ db: orm.db, store, projections: SQL_PROJECTIONS, name: p.name, logger });
      total += r.events;
      seconds += r.seconds;
      console.log(`(b) rebuild ${p.name.padEnd(12)}: ${fmt(r.events)} log events (${fmt(r.applied)} applied) in ${r.seconds.toFixed(2)} s = ${fmt(r.eventsPerSecond)} events/s`);
    }
    console.log(`(b) rebuild, all four one after another: ${fmt(total / seconds)} log events/s (target >= 20,000 per projection)`);
  } finally {
    await orm.close();
    await store.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${ES_SCHEMA}" CASCADE`);
    await admin.query(`DROP SCHEMA IF EXISTS "${RM_SCHEMA}" CASCADE`);
    await admin.end();
  }
}

await main();
