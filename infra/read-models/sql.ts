/**
 * The little SQL that differs between PostgreSQL and SQLite, in one place, so that projections and
 * the runtime write one statement for both.
 *
 * Bulk writes take their rows as ONE JSON parameter (json_to_recordset on PostgreSQL, json_each on
 * SQLite): one round trip and one tiny parse per statement whatever the row count, and no limit on
 * bound parameters. Times follow MikroORM's convention per dialect so that entity queries read what
 * the raw writes stored: timestamptz on PostgreSQL, epoch milliseconds on SQLite. Positions travel
 * as decimal strings and are cast in SQL, never through a JS number (they may exceed 2^53).
 */
import { quoteIdent, type ColumnType, type Columns, type Dialect, type SqlDialect } from '../../projections/ports/sql.js';

function encodeValue(dialect: Dialect, type: ColumnType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'timestamp': {
      const d = value instanceof Date ? value : new Date(String(value));
      return dialect === 'postgresql' ? d.toISOString() : d.getTime();
    }
    case 'bigint':
      return String(value);
    case 'json':
      // SQLite keeps JSON as text; PostgreSQL's jsonb column takes the nested value as it is.
      return dialect === 'postgresql' ? value : JSON.stringify(value);
    default:
      return value;
  }
}

const PG_TYPES: Record<ColumnType, string> = {
  text: 'text',
  int: 'integer',
  bigint: 'bigint',
  timestamp: 'timestamptz',
  json: 'jsonb',
  uuid: 'uuid',
};

function sqliteColumn([name, type]: readonly [string, ColumnType]): string {
  const v = `json_extract(value, '$.${name}')`;
  switch (type) {
    case 'int':
    case 'bigint':
    case 'timestamp':
      return `CAST(${v} AS INTEGER) AS ${quoteIdent(name)}`;
    default:
      return `${v} AS ${quoteIdent(name)}`;
  }
}

export function sqlDialect(name: Dialect, schema: string | undefined): SqlDialect {
  const tableIn = (s: string | undefined, t: string): string => (name === 'postgresql' && s ? `${quoteIdent(s)}.${quoteIdent(t)}` : quoteIdent(t));
  return {
    name,
    schema: name === 'postgresql' ? schema : undefined,
    table: (t) => tableIn(schema, t),
    tableIn,
    rowsFrom(columns) {
      if (name === 'postgresql') {
        const cols = columns.map(([c]) => quoteIdent(c)).join(', ');
        const defs = columns.map(([c, type]) => `${quoteIdent(c)} ${PG_TYPES[type]}`).join(', ');
        return `SELECT ${cols} FROM json_to_recordset(CAST(? AS json)) AS r(${defs})`;
      }
      // WHERE true: SQLite cannot otherwise tell an upsert's ON CONFLICT from a join's ON.
      return `SELECT ${columns.map(sqliteColumn).join(', ')} FROM json_each(?) WHERE true`;
    },
    encodeRows(columns, rows) {
      return JSON.stringify(
        rows.map((row) => {
          const out: Record<string, unknown> = {};
          for (const [c, type] of columns) out[c] = encodeValue(name, type, row[c]);
          return out;
        }),
      );
    },
    position: (p = '?') => (name === 'postgresql' ? `CAST(${p} AS bigint)` : `CAST(${p} AS INTEGER)`),
    time: (value) => encodeValue(name, 'timestamp', value) as string | number,
  };
}
