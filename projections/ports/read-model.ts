/**
 * The read-model database as projections, their queries and the runtime use it: statements with `?`
 * placeholders and real bound parameters, transactions, and the little the runtime needs beyond
 * that (its own PostgreSQL connections for session locks, a fresh copy for a replay, the shape of a
 * table). infra/read-models/orm.ts implements it on MikroORM's connection; nothing here names the ORM,
 * so a projection is plain SQL over this port.
 */
import type { SqlDialect, SqlParam } from './sql.js';

/** Runs one statement and returns its rows (none for a statement without any). */
export interface SqlRunner {
  query<T = Record<string, unknown>>(statement: string, params?: ReadonlyArray<SqlParam>): Promise<T[]>;
}

/** What audit verify compares a table by. */
export type ColumnKind = 'time' | 'bigint' | 'number' | 'text';

export interface TableShape {
  table: string;
  /** Every column except surrogate (autoincrement) ids, in declaration order. */
  columns: ReadonlyArray<{ name: string; kind: ColumnKind; primary: boolean; unique: boolean }>;
}

export interface ReadModelDb extends SqlRunner {
  readonly sql: SqlDialect;
  /** Runs `work` in one transaction on a connection of its own: its statements commit, or roll back, together. */
  transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T>;
  /** PostgreSQL: the connection string, for the runtime's session-bound locks; undefined on SQLite. */
  readonly connectionString: string | undefined;
  /** A new, migrated read-model database of the same kind: a schema on the same server, or a SQLite file. */
  openFresh(where: { schema: string } | { file: string }): Promise<ReadModelDb & { close(): Promise<void> }>;
  /** A failure of the infrastructure (unreachable, restarting, deadlock), not of the data: worth retrying. */
  isTransient(err: unknown): boolean;
  /** The shape of one of the registered tables, by its entity's class name. */
  shapeOf(className: string): TableShape | undefined;
}
