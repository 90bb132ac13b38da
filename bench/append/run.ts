// Append throughput of the PostgreSQL event store against plain INSERTs of the same rows, and the
// CPU each append costs (this process, and all postgres processes).
//
//   npm run bench:append                       (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)
//   BENCH_SECONDS=10 BENCH_WRITERS=1,8,32 npm run bench:append
//   BENCH_ENCRYPT=1 npm run bench:append       (the store as the service runs it: bodies sealed per sender, docs/privacy.md)
//   BENCH_ENCRYPT=both npm run bench:append    (sealed against plain appends, interleaved in one process: the
//                                               encryption ratio, less exposed to a loaded machine's drift;
//                                               BENCH_ROUNDS=N rounds, each with its own ratio, and their median;
//                                               BENCH_CIPHER=xchacha20-poly1305 seals as DATA_CIPHER=xchacha20-poly1305 does)
//
// Each case runs N writers for a fixed time, one event per append to a fresh stream ('no_stream'),
// split in four slices run store, raw, raw, store so that drift in machine load hits both sides alike,
// against a scratch schema that is dropped at the end. The baseline inserts the same columns and
// payload into a table with the same definition and indexes, one autocommitted INSERT per row, so
// the ratio is the price of the store's guarantees (revision check, streams row, notify).
import { randomUUID } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { PostgresKeyStore } from '../../infra/keys/postgres.js';
import { loadXChaCha } from '../../infra/keys/crypto.js';
import { KeyRing } from '../../infra/keys/ring.js';
import { SealedEventStore } from '../../infra/keys/sealed-store.js';
import { cpuSeconds, pidsNamed } from '../ws/common.js';

const url = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const seconds = Number(process.env['BENCH_SECONDS'] ?? process.argv[2] ?? 5);
const writerCounts = (process.env['BENCH_WRITERS'] ?? '1,8,32').split(',').map(Number);
const WARMUP_MS = 500;
/** BENCH_ENCRYPT=both: rounds of (plain, sealed, sealed, plain) slices. */
const rounds = Math.max(1, Number(process.env['BENCH_ROUNDS'] ?? 2));
const both = (process.env['BENCH_ENCRYPT'] ?? '').toLowerCase() === 'both';
/** BENCH_CIPHER: what the sealed side seals with (DATA_CIPHER in the service). */
const cipher = process.env['BENCH_CIPHER'] === 'xchacha20-poly1305' ? 'xchacha20-poly1305' : 'aes-256-gcm';
const encrypt = both || ['1', 'true', 'on'].includes((process.env['BENCH_ENCRYPT'] ?? '').toLowerCase());
/** Senders the messages come from: their data keys are created once, then cached, as in the service. */
const SENDERS = Array.from({ length: 1000 }, (_, i) => `sender${i}`);
const schema = `bench_append_${randomUUID().replace(/-/g, '').slice(0, 10)}`;

const out = (line = ''): void => void process.stdout.write(`${line}\n`);

/** A chat-message-sized payload (MessageSent v2, what the domain writes), the same for both sides. */
function payload(n: number): { type: string; data: unknown; metadata: Record<string, unknown> } {
  return {
    type: 'MessageSent',
    data: {
      chatId: randomUUID(), messageId: randomUUID(), senderId: SENDERS[n % SENDERS.length], clientMessageId: `c${n}`,
      body: `message ${n} `.padEnd(160, 'x'), sentAt: new Date().toISOString(),
    },
    metadata: { schemaVersion: 2, correlationId: randomUUID() },
  };
}

interface Sample {
  count: number;
  seconds: number;
  /** CPU spent while counting: this process, and every postgres process on the machine. */
  clientCpuSeconds: number;
  postgresCpuSeconds: number;
}

const postgresCpu = (): number => pidsNamed(['postgres']).reduce((sum, pid) => sum + cpuSeconds(pid), 0);
const ownCpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

let seq = 0;

/** Runs `writers` loops of `op` for `ms` (after a warm-up) and counts the operations. */
async function measure(writers: number, ms: number, op: (n: number) => Promise<void>): Promise<Sample> {
  let counting = false;
  let count = 0;
  const warmupEnd = Date.now() + WARMUP_MS;
  const end = warmupEnd + ms;
  let startedAt = 0;
  let client0 = 0;
  let postgres0 = 0;
  setTimeout(() => {
    counting = true;
    startedAt = performance.now();
    client0 = ownCpu();
    postgres0 = postgresCpu();
  }, WARMUP_MS);
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (Date.now() < end) {
        await op(seq++);
        if (counting) count++;
      }
    }),
  );
  return { count, seconds: (performance.now() - startedAt) / 1000, clientCpuSeconds: ownCpu() - client0, postgresCpuSeconds: postgresCpu() - postgres0 };
}

/** Microseconds of CPU per operation: client, postgres. */
const cpuPerOp = (samples: Sample[]): [number, number] => {
  const n = samples.reduce((a, s) => a + s.count, 0);
  return [
    (samples.reduce((a, s) => a + s.clientCpuSeconds, 0) / n) * 1e6,
    (samples.reduce((a, s) => a + s.postgresCpuSeconds, 0) / n) * 1e6,
  ];
};

const rate = (samples: Sample[]): number => samples.reduce((a, s) => a + s.count, 0) / samples.reduce((a, s) => a + s.seconds, 0);

/**
 * BENCH_ENCRYPT=both: plain and sealed appends in alternating slices (plain, sealed, sealed, plain) per
 * round, BENCH_ROUNDS rounds (default 2). Each round gives its own on/off ratio; the median of the
 * rounds is the figure, since one slice on a shared 2-core machine can swing by a third.
 */
async function compareSealed(writers: number, slice: number, plain: EventStore, sealed: EventStore): Promise<void> {
  const appendTo = (store: EventStore) => async (n: number): Promise<void> => {
    await store.append(`bench-${randomUUID()}`, [{ id: randomUUID(), ...payload(n) }], 'no_stream');
  };
  const off: Sample[] = [];
  const on: Sample[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const roundOff = [await measure(writers, slice / 2, appendTo(plain))];
    const roundOn = [await measure(writers, slice / 2, appendTo(sealed))];
    roundOn.push(await measure(writers, slice / 2, appendTo(sealed)));
    roundOff.push(await measure(writers, slice / 2, appendTo(plain)));
    off.push(...roundOff);
    on.push(...roundOn);
    ratios.push(rate(roundOn) / rate(roundOff));
  }
  const [offClient, offPg] = cpuPerOp(off);
  const [onClient, onPg] = cpuPerOp(on);
  const sorted = [...ratios].sort((a, b) => a - b);
  const median = sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  out();
  out(`writers: ${writers}`);
  out(`  encryption off: ${rate(off).toFixed(0)} appends/s, CPU per append ${offClient.toFixed(1)} µs here + ${offPg.toFixed(0)} µs postgres`);
  out(`  encryption on:  ${rate(on).toFixed(0)} appends/s, CPU per append ${onClient.toFixed(1)} µs here + ${onPg.toFixed(0)} µs postgres`);
  out(`  on/off: appends/s ${(rate(on) / rate(off)).toFixed(3)} over all slices, client CPU per append ${(onClient / offClient).toFixed(3)} (+${(onClient - offClient).toFixed(1)} µs)`);
  out(`  on/off per round: ${ratios.map((r) => r.toFixed(3)).join(' ')}; median ${median.toFixed(3)} of ${rounds}`);
}

async function main(): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const rows: Array<{ writers: number; store: number; raw: number }> = [];
  let rawPosition = 0; // the copied unique index on position needs distinct values across cases
  try {
    // Creates the scratch schema and the store's tables; the baseline table copies events: columns,
    // defaults and indexes (not the CHECK tying position to the transaction id, which it does not fill that way).
    const first = await PostgresEventStore.open({ connectionString: url, schema, poolSize: 1 });
    await first.close();
    await admin.query(`CREATE TABLE "${schema}".raw_events (LIKE "${schema}".events INCLUDING DEFAULTS INCLUDING INDEXES)`);
    const insertRaw = `INSERT INTO "${schema}".raw_events (stream_id, revision, position, event_id, type, data, metadata)
      VALUES ($1, 0, $2, $3, $4, $5, $6)`;

    out(`PostgreSQL event store append benchmark: ${seconds}s per side and case, one event per append, schema ${schema}, encryption ${encrypt ? `on (${cipher})` : 'off'}`);
    const keys = encrypt ? await PostgresKeyStore.open({ connectionString: url, schema }) : null;
    const ring = keys ? new KeyRing({ store: keys, kek: randomBytes(32), cipher }) : null;
    // Keys are created once per user (at registration, in the service): create them before measuring.
    await ring?.keysForSealing(SENDERS);
    if (ring && cipher === 'xchacha20-poly1305') await loadXChaCha();
    out(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${availableParallelism()} CPUs`);
    for (const writers of writerCounts) {
      const rawStore = await PostgresEventStore.open({ connectionString: url, schema, poolSize: writers });
      const store: EventStore = ring ? new SealedEventStore(rawStore, ring) : rawStore;
      const pool = new pg.Pool({ connectionString: url, max: writers });
      const appendOne = async (n: number): Promise<void> => {
        const p = payload(n);
        await store.append(`bench-${randomUUID()}`, [{ id: randomUUID(), ...p }], 'no_stream');
      };
      const insertOne = async (n: number): Promise<void> => {
        const p = payload(n);
        await pool.query({
          name: 'raw_insert',
          text: insertRaw,
          values: [`bench-${randomUUID()}`, String(++rawPosition), randomUUID(), p.type, JSON.stringify(p.data), JSON.stringify(p.metadata)],
        });
      };
      const slice = (seconds * 1000) / 2;
      if (both) {
        await compareSealed(writers, slice, rawStore, store);
        await rawStore.close();
        await pool.end();
        continue;
      }
      const storeSamples: Sample[] = [];
      const rawSamples: Sample[] = [];
      storeSamples.push(await measure(writers, slice, appendOne));
      rawSamples.push(await measure(writers, slice, insertOne));
      rawSamples.push(await measure(writers, slice, insertOne));
      storeSamples.push(await measure(writers, slice, appendOne));
      await rawStore.close();
      await pool.end();
      const storeRate = rate(storeSamples);
      const rawRate = rate(rawSamples);

      rows.push({ writers, store: storeRate, raw: rawRate });
      out();
      out(`writers: ${writers}`);
      out('  store appends/s   raw inserts/s   ratio');
      out(`  ${storeRate.toFixed(0).padStart(15)}   ${rawRate.toFixed(0).padStart(13)}   ${((storeRate / rawRate) * 100).toFixed(1).padStart(4)}%`);
      const [storeClient, storePg] = cpuPerOp(storeSamples);
      const [rawClient, rawPg] = cpuPerOp(rawSamples);
      out(`  CPU per append: store ${storeClient.toFixed(0)} µs here + ${storePg.toFixed(0)} µs postgres; raw insert ${rawClient.toFixed(0)} + ${rawPg.toFixed(0)} µs`);
    }
    await keys?.close();
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
  const at32 = rows.find((r) => r.writers === 32);
  if (at32) out(`\nratio at 32 writers: ${((at32.store / at32.raw) * 100).toFixed(1)}% (target >= 50%)`);
}

await main();
