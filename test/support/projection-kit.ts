// given(events).then(expectedRows): a test kit for one SqlProjection, run against both read-model
// stores (a temporary SQLite file, the embedded default, and a per-test PostgreSQL schema).
//
//   const { given } = projectionKit(t, usersProjection);
//   await given([registered('alice'), loggedIn('alice', '2026-01-02T00:00:00Z')])
//     .then({ users: [{ user_id: 'alice', username: 'alice', role: 'user', registered_at: '…', last_login_at: '…' }] });
//
// Each `then` checks, on each store, that the rows equal the expected ones:
// 1. in log order, in one batch, through the real runtime (inbox and checkpoint included);
// 2. after the whole batch is delivered again (the inbox must make it a no-op);
// 3. after the events are applied a second time straight through apply, bypassing the inbox
//    (what a replay over surviving rows does: the writes themselves must be idempotent);
// 4. from empty tables, in reverse order, one event per batch (the result must not depend on order).
// Events go through the real codec and redaction (toPublicRecord), so an old schema version is upcast
// and a password hash never reaches the projection. Rows are compared without surrogate ids, times as
// ISO-8601 strings, 64-bit integers as decimal strings, in key order.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { EntityMetadata } from '@mikro-orm/core';
import type { Test } from 'tap';
import { CHAT_EVENT_TYPES, chatStreamId, userStreamId } from '../../domain/events.js';
import type { RecordedEvent } from '../../commands/ports/event-store.js';
import { toPublicRecord, type PublicRecord } from '../../projections/ports/public-record.js';
import { createLogger } from '../../infra/logger.js';
import { emOf, openReadModelOrm, sqlOf, sqlQuery, type ReadModelOrm } from '../../infra/read-models/orm.js';
import { toDate } from '../../projections/ports/sql.js';
import type { ProjectionEvent, SqlProjection } from '../../projections/projection.js';
import { CHECKPOINTS, DEAD_LETTERS, INBOX, applyEvents, liveTarget, tablesOf, toItems } from '../../projections/runtime/apply.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { createTestSchema } from './pg.js';

export type Backend = 'sqlite' | 'postgresql';
export type Cell = string | number | null;
export type Row = Record<string, Cell>;
export type ExpectedRows = Record<string, Row[]>;

/** An event as the kit takes it: a domain event (or an old version of one), with optional log metadata. */
export interface KitEvent {
  type: string;
  version: number;
  data: unknown;
  id?: string;
  streamId?: string;
  revision?: number;
  position?: number | bigint;
  createdAt?: Date;
}

export interface Scenario {
  /** Asserts the listed tables hold exactly these rows (tables not listed are not checked). */
  then(expected: ExpectedRows, message?: string): Promise<void>;
  /** Asserts the projection refuses some event with an error matching `error` (the runtime would park it), and the rest apply. */
  thenParks(error: RegExp, expected?: ExpectedRows): Promise<void>;
}

export interface KitOptions {
  /** Default: both. */
  backends?: Backend[];
  /** Skip check 4 (for a projection that is allowed to depend on order: none of ours is). */
  orderMatters?: boolean;
}

/** The id the kit gives the n-th event (1-based) of a `given` list that names none. */
export const eventId = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

const silent = createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent', name: 'projection-kit' });

function streamOf(e: KitEvent): string {
  const d = (typeof e.data === 'object' && e.data !== null ? e.data : {}) as Record<string, unknown>;
  if (CHAT_EVENT_TYPES.has(e.type) && typeof d['chatId'] === 'string') return chatStreamId(d['chatId']);
  if (typeof d['userId'] === 'string') return userStreamId(d['userId']);
  return 'kit-other';
}

/** The public records of a `given` list: ids, streams, revisions and positions filled in as a log would. */
export function kitRecords(events: ReadonlyArray<KitEvent>): PublicRecord[] {
  const revisions = new Map<string, number>();
  return events.map((e, i) => {
    const streamId = e.streamId ?? streamOf(e);
    const revision = e.revision ?? revisions.get(streamId) ?? 0;
    revisions.set(streamId, revision + 1);
    const recorded: RecordedEvent = {
      id: e.id ?? eventId(i + 1),
      streamId,
      type: e.type,
      revision,
      position: BigInt(e.position ?? i + 1),
      data: e.data,
      metadata: { schemaVersion: e.version },
      createdAt: e.createdAt ?? new Date(Date.parse('2026-01-01T00:00:00Z') + i * 1000),
    };
    return toPublicRecord(recorded);
  });
}

interface Store {
  backend: Backend;
  orm: ReadModelOrm;
  close(): Promise<void>;
}

async function openStore(backend: Backend): Promise<Store> {
  if (backend === 'postgresql') {
    const ts = await createTestSchema('kit');
    const orm = await openReadModelOrm({ kind: 'postgresql', connectionString: ts.url, schema: ts.schema, poolSize: 2 }, silent);
    return { backend, orm, close: async () => { await orm.close(); await ts.drop(); } };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'kit-'));
  const orm = await openReadModelOrm({ kind: 'sqlite', file: path.join(dir, 'read-models.sqlite') }, silent);
  return { backend, orm, close: async () => { await orm.close(); rmSync(dir, { recursive: true, force: true }); } };
}

type Kind = 'time' | 'bigint' | 'number' | 'text';

/** Column kinds of a table (surrogate ids left out), from MikroORM's metadata. */
function columnsOf(orm: ReadModelOrm, table: string): Map<string, Kind> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- MikroORM's metadata generic
  const meta = Object.values(orm.getMetadata().getAll()).find((m: EntityMetadata<any>) => m.tableName === table) as EntityMetadata<any> | undefined;
  if (!meta) throw new Error(`no entity for table ${table}`);
  const props = meta.props.filter((p) => !p.autoincrement && p.fieldNames?.length);
  return new Map(props.map((p) => [p.fieldNames[0]!, p.runtimeType === 'Date' ? 'time' : p.runtimeType === 'bigint' ? 'bigint' : p.runtimeType === 'number' ? 'number' : 'text']));
}

/** One value as the kit compares it: times as ISO-8601 (whatever the dialect stored), 64-bit integers as text. */
function normalize(kind: Kind | undefined, v: unknown): Cell {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case 'time':
      return (typeof v === 'string' && !/^\d+$/.test(v) ? new Date(v) : toDate(v)!).toISOString();
    case 'bigint':
      return String(v);
    case 'number':
      return Number(v);
    default:
      return typeof v === 'number' ? v : String(v);
  }
}

const sortRows = (rows: Row[]): Row[] => rows.map((r) => [JSON.stringify(r), r] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);

function normalizeRow(kinds: Map<string, Kind>, r: Record<string, unknown>): Row {
  const out: Row = {};
  for (const [c, kind] of kinds) out[c] = normalize(kind, r[c]);
  // A column the table does not have stays in, so the comparison shows it.
  for (const k of Object.keys(r)) if (!kinds.has(k)) out[k] = r[k] as Cell;
  return out;
}

async function readRows(orm: ReadModelOrm, table: string): Promise<Row[]> {
  const kinds = columnsOf(orm, table);
  const raw = await sqlQuery<Record<string, unknown>>(emOf(orm), `SELECT * FROM ${sqlOf(orm).table(table)}`);
  return sortRows(raw.map((r) => {
    const out: Row = {};
    for (const [c, kind] of kinds) out[c] = normalize(kind, r[c]);
    return out;
  }));
}

export function projectionKit(t: Test, projection: SqlProjection, options: KitOptions = {}) {
  const backends = options.backends ?? ['sqlite', 'postgresql'];
  const stores = new Map<Backend, Promise<Store>>();
  t.teardown(async () => {
    for (const s of stores.values()) await (await s).close();
  });
  const storeFor = (b: Backend): Promise<Store> => {
    let s = stores.get(b);
    if (!s) stores.set(b, (s = openStore(b)));
    return s;
  };
  const tables = tablesOf(projection);

  async function reset(orm: ReadModelOrm): Promise<void> {
    const sql = sqlOf(orm);
    for (const table of [...tables, INBOX, CHECKPOINTS, DEAD_LETTERS]) await sqlQuery(emOf(orm), `DELETE FROM ${sql.table(table)}`);
  }

  async function dump(orm: ReadModelOrm, names: ReadonlyArray<string>): Promise<Record<string, Row[]>> {
    const out: Record<string, Row[]> = {};
    for (const n of names) out[n] = await readRows(orm, n);
    return out;
  }

  function check(orm: ReadModelOrm, actual: Record<string, Row[]>, expected: ExpectedRows, label: string): void {
    for (const [table, rows] of Object.entries(expected)) {
      if (!tables.includes(table)) {
        t.fail(`${label}: ${projection.name} does not own a table ${table} (it owns ${tables.join(', ')})`);
        continue;
      }
      const kinds = columnsOf(orm, table);
      t.same(actual[table], sortRows(rows.map((r) => normalizeRow(kinds, r))), `${label}: ${table}`);
    }
  }

  function given(events: ReadonlyArray<KitEvent>): Scenario {
    const records = kitRecords(events);
    return {
      async then(expected, message) {
        const names = Object.keys(expected);
        for (const backend of backends) {
          const { orm } = await storeFor(backend);
          const label = `${message ?? projection.name} [${backend}]`;
          await reset(orm);
          const projector = createSqlProjector({ db: orm.db, projections: [projection], logger: silent });
          const first = await projector.applyBatch(records);
          t.same(first.failed.map((f) => String(f.error)), [], `${label}: every event applies`);
          const inOrder = await dump(orm, names);
          check(orm, inOrder, expected, `${label} in log order`);

          const again = await projector.applyBatch(records);
          // An idempotent projection keeps no inbox rows, so the runtime applies a redelivery again;
          // what must hold for it is the next line: the redelivery changes nothing.
          if (!projection.idempotent) t.equal(again.applied, 0, `${label}: a redelivery applies nothing`);
          t.same(await dump(orm, names), inOrder, `${label}: and changes nothing`);

          const events = toItems(records).map((i) => i.event).filter((e): e is ProjectionEvent => e !== null && (projection.handles as string[]).includes(e.event.type));
          const sql = sqlOf(orm);
          await orm.db.transaction((tx) => applyEvents(tx, sql, projection, liveTarget(sql), events));
          t.same(await dump(orm, names), inOrder, `${label}: applying again past the inbox changes nothing (idempotent writes)`);

          if (!options.orderMatters) {
            await reset(orm);
            const fresh = createSqlProjector({ db: orm.db, projections: [projection], logger: silent });
            for (const r of [...records].reverse()) {
              const res = await fresh.applyBatch([r]);
              if (res.failed.length > 0) t.fail(`${label}: event ${r.id} failed out of order: ${String(res.failed[0]!.error)}`);
            }
            t.same(await dump(orm, names), inOrder, `${label}: in reverse order, one event per batch, the same rows`);
          }
        }
      },

      async thenParks(error, expected) {
        for (const backend of backends) {
          const { orm } = await storeFor(backend);
          const label = `${projection.name} [${backend}]`;
          await reset(orm);
          const projector = createSqlProjector({ db: orm.db, projections: [projection], logger: silent });
          const res = await projector.applyBatch(records);
          const mine = res.failed.filter((f) => f.projections.includes(projection.name));
          t.ok(mine.length > 0, `${label}: an event is refused`);
          for (const f of mine) t.match(String(f.error), error, `${label}: refused with the expected error`);
          if (expected) check(orm, await dump(orm, Object.keys(expected)), expected, `${label} (the other events)`);
        }
      },
    };
  }

  return { given, records: kitRecords };
}
