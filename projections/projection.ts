/**
 * The shape of a read-model projection: one module per projection in projections/. A projection
 * holds only its own logic; the runtime (projections/runtime/) feeds it, batches, records the inbox
 * and checkpoint in the same transaction, isolates and parks poison events, and rebuilds.
 *
 * Rules for a projection:
 * - apply receives a batch of events, each at most once (the runtime's inbox de-duplicates), in
 *   position order, inside the runtime's transaction. It should write in bulk (a few statements per
 *   batch, not one per event): that is what makes rebuilds fast.
 * - the result must not depend on delivery order: a redelivery from the broker or a rebuild replays
 *   in another order, so write with upserts keyed by natural ids and guard "latest" values by
 *   stream revision or time.
 * - write only through tx.table(...) names: during a rebuild they point at fresh copies of the tables.
 * - throw only for data that cannot be applied; the runtime isolates the event and the caller parks it.
 */
import type { EntitySchema } from '@mikro-orm/core';
import type { PublicEvent } from '../domain/public-event.js';
import { quoteIdent, type ColumnType, type Columns, type SqlDialect, type SqlParam } from './ports/sql.js';

export interface ProjectionEvent<E extends PublicEvent = PublicEvent> {
  id: string;
  streamId: string;
  revision: number;
  position: bigint;
  createdAt: Date;
  event: E;
}

/** What apply writes through. */
export interface ProjectionTx {
  readonly sql: SqlDialect;
  /** Quoted name of one of this projection's tables: the live table, or its fresh copy during a rebuild. */
  table(name: string): string;
  /** Runs one statement in the transaction (`?` placeholders). */
  run(sql: string, params?: ReadonlyArray<SqlParam>): Promise<void>;
  /** Runs one statement in the transaction and returns its rows (an INSERT ... RETURNING). */
  query<T = Record<string, unknown>>(sql: string, params?: ReadonlyArray<SqlParam>): Promise<T[]>;
}

export type UnknownEventPolicy = 'park-and-continue' | 'park-and-stop';

export interface SqlProjection {
  name: string;
  /** Bump when apply changes meaning; `chat projections status` then asks for a rebuild. */
  version: number;
  handles: ReadonlyArray<PublicEvent['type']>;
  /**
   * What to do with an event of a type it handles at a schema version this release cannot read (a newer
   * release wrote it). Either way the event is parked as a dead letter and retried by a release that
   * reads it (automatically when the projector starts); the policy decides what happens meanwhile:
   * - 'park-and-continue': apply the events after it. Right for a projection whose result does not
   *   depend on order (every projection here must be): the retried event lands later, as a redelivery would.
   * - 'park-and-stop': apply nothing of this projection after it until it is retried; the projection
   *   keeps a complete prefix of the log, and `chat projections status` shows where it stopped.
   * Events of a type this release does not know at all are parked once (projection '*') and every
   * projection goes on: a projection only handles types it names, so none of them can need it yet.
   */
  onUnknown: UnknownEventPolicy;
  /**
   * Applying an event twice, or an older one after a newer one, leaves its tables as applying it once:
   * every write is keyed by the event's natural id and conflicts do nothing or are guarded by revision.
   * The runtime then writes no projection_inbox rows for it (the inbox compaction leaves it alone) and
   * applies redeliveries again, which change nothing. Only for a projection every event type of which
   * another projection with an inbox also handles, so that batch results still tell redeliveries apart.
   */
  idempotent?: true;
  /**
   * The tables this projection owns (entity schemas without decorators); a rebuild replaces exactly
   * these. (`any`: MikroORM's EntitySchema generic, at the boundary only.)
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  entities: ReadonlyArray<EntitySchema<any>>;
  apply(tx: ProjectionTx, events: ReadonlyArray<ProjectionEvent>): Promise<void>;
}

/** Narrows a batch to one event type (the runtime only hands a projection the types it handles). */
export function eventsOfType<T extends PublicEvent['type']>(
  events: ReadonlyArray<ProjectionEvent>,
  type: T,
): Array<ProjectionEvent<Extract<PublicEvent, { type: T }>>> {
  return events.filter((e): e is ProjectionEvent<Extract<PublicEvent, { type: T }>> => e.event.type === type);
}

/**
 * Rows sorted by a unique key. Write batches in key order: two transactions holding overlapping rows
 * then lock them in the same order, so concurrent projectors cannot deadlock each other.
 */
export function byKey<T extends Record<K, string>, K extends string>(rows: T[], key: K): T[] {
  return rows.sort((a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- MikroORM's EntitySchema generic, at the boundary only
type AnyEntity = EntitySchema<any>;

const COLUMN_TYPES: Readonly<Record<string, ColumnType>> = {
  string: 'text',
  text: 'text',
  datetime: 'timestamp',
  integer: 'int',
  bigint: 'bigint',
  uuid: 'uuid',
  json: 'json',
};

/**
 * The columns a bulk write binds, read from the entity, so a table's columns are declared once (the
 * entity) besides its migration. All columns but surrogate ids, in declaration order; `only` picks
 * and orders some, `omit` leaves some out. A name or type the entity does not declare throws at load.
 */
export function columnsOf(entity: AnyEntity, pick: { only?: readonly string[]; omit?: readonly string[] } = {}): Columns {
  const props = entity.meta.properties as Record<string, { type?: unknown; fieldName?: string; autoincrement?: boolean }>;
  const all = Object.entries(props)
    .filter(([, p]) => p.autoincrement !== true)
    .map(([name, p]): readonly [string, ColumnType] => {
      const type = typeof p.type === 'string' ? COLUMN_TYPES[p.type] : undefined;
      if (!type) throw new Error(`${entity.meta.className}.${name}: no bulk-write column type for ${String(p.type)}`);
      return [p.fieldName ?? name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), type];
    });
  const byName = new Map(all.map((c) => [c[0], c]));
  for (const n of [...(pick.only ?? []), ...(pick.omit ?? [])]) {
    if (!byName.has(n)) throw new Error(`${entity.meta.className} has no column ${n}`);
  }
  return pick.only ? pick.only.map((n) => byName.get(n)!) : all.filter(([n]) => !pick.omit?.includes(n));
}

/** `"a", "b", …`: the column list of an INSERT whose rows come from SqlDialect.rowsFrom(columns). */
export const columnList = (columns: Columns): string => columns.map(([c]) => quoteIdent(c)).join(', ');
