/**
 * The SQL contract of the read models, owned by the read side: the bound-parameter and column types
 * projections write with, and what a dialect (infra/read-models/sql.ts) must provide so that one
 * statement serves PostgreSQL and SQLite. Positions travel as decimal strings, times as the dialect
 * stores them (SqlDialect.time), so nothing here depends on a driver.
 */
export type Dialect = 'postgresql' | 'sqlite';

/** A bound parameter: times go through SqlDialect.time, positions as decimal strings. */
export type SqlParam = string | number | null;

export type ColumnType = 'text' | 'int' | 'bigint' | 'timestamp' | 'json' | 'uuid';
export type Columns = ReadonlyArray<readonly [name: string, type: ColumnType]>;

export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export interface SqlDialect {
  readonly name: Dialect;
  /** Schema of the live tables (PostgreSQL only). */
  readonly schema: string | undefined;
  /** Quoted, schema-qualified name of a live table. */
  table(name: string): string;
  /** Quoted name of a table in another schema (PostgreSQL) or of a renamed copy (SQLite). */
  tableIn(schema: string | undefined, name: string): string;
  /** `SELECT <columns> FROM <one JSON parameter>`: the row source of a bulk INSERT ... SELECT. */
  rowsFrom(columns: Columns): string;
  /** The JSON text to bind to rowsFrom's parameter. */
  encodeRows(columns: Columns, rows: ReadonlyArray<Record<string, unknown>>): string;
  /** A position parameter (decimal string) as a 64-bit integer expression. */
  position(placeholder?: string): string;
  /** A time as the dialect stores it. */
  time(value: Date | string): string | number;
}

/** A time read back from either dialect (Date from pg, epoch ms or text from SQLite). */
export function toDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value;
  if (typeof value === 'number' || typeof value === 'bigint') return new Date(Number(value));
  if (typeof value === 'string') return /^\d+$/.test(value) ? new Date(Number(value)) : new Date(value);
  return null;
}
