/**
 * The fresh tables of a blue/green rebuild (rebuild.ts), and their swap with the live ones.
 * PostgreSQL: a scratch schema holding CREATE TABLE ... (LIKE live) copies, moved in at the swap
 * (ALTER TABLE ... SET SCHEMA, no data copied). SQLite: copies named <table>__rb_<id>, made from the
 * live tables' own DDL in sqlite_master, whose rows are copied across at the swap (the DDL names
 * would otherwise keep the suffix).
 */
import { randomBytes } from 'node:crypto';
import { quoteIdent, type SqlDialect } from '../ports/sql.js';
import type { SqlProjection } from '../projection.js';
import type { ReadModelDb, SqlRunner } from '../ports/read-model.js';
import { INBOX, tablesOf, type Target } from './apply.js';

export interface Scratch {
  target: Target;
  /** After the bulk replay, before the swap: builds what was left out to make the replay fast. */
  finishReplay(): Promise<void>;
  /** Inside the swap transaction: replaces the live tables and this projection's inbox rows. */
  swap(em: SqlRunner): Promise<void>;
  drop(): Promise<void>;
}

const newId = (): string => `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const slug = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, '_');

/** Scratch schemas: <live schema>_rb_<projection>_<id>, within PostgreSQL's 63-byte names. */
export const scratchPrefix = (sql: SqlDialect, name: string): string => `${(sql.schema ?? 'public').slice(0, 28)}_rb_${slug(name).slice(0, 16)}_`;

export async function createScratch(db: ReadModelDb, sql: SqlDialect, projection: SqlProjection): Promise<Scratch> {
  const tables = tablesOf(projection);
  if (sql.name === 'postgresql') {
    const live = sql.schema ?? 'public';
    const schema = `${scratchPrefix(sql, projection.name)}${newId()}`;
    // Constraints (primary key, unique: ON CONFLICT needs them) from the start; plain indexes after
    // the bulk replay, when building each once is cheaper than maintaining it row by row.
    const deferred: string[] = [];
    await db.transaction(async (tx) => {
      await tx.query(`CREATE SCHEMA ${quoteIdent(schema)}`);
      for (const t of tables) {
        const from = sql.table(t);
        const to = sql.tableIn(schema, t);
        await tx.query(`CREATE TABLE ${to} (LIKE ${from} INCLUDING ALL EXCLUDING INDEXES)`);
        const constraints = await tx.query<{ name: string; def: string }>(
          `SELECT conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint
           WHERE conrelid = to_regclass(?) AND contype IN ('p', 'u', 'x') ORDER BY contype = 'p' DESC, conname`,
          [from],
        );
        for (const c of constraints) await tx.query(`ALTER TABLE ${to} ADD CONSTRAINT ${quoteIdent(c.name)} ${c.def}`);
        // pg_get_indexdef names the table schema.table through quote_ident: swap in the scratch schema.
        const indexes = await tx.query<{ def: string; ok: boolean }>(
          `WITH n AS (SELECT ' ON ' || quote_ident(?) || '.' || quote_ident(?) || ' USING ' AS live,
                             ' ON ' || quote_ident(?) || '.' || quote_ident(?) || ' USING ' AS scratch)
           SELECT replace(pg_get_indexdef(i.indexrelid), n.live, n.scratch) AS def, strpos(pg_get_indexdef(i.indexrelid), n.live) > 0 AS ok
           FROM pg_index i, n WHERE i.indrelid = to_regclass(?)
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)`,
          [live, t, schema, t, from],
        );
        for (const i of indexes) {
          if (!i.ok) throw new Error(`cannot copy an index of ${t}: unexpected definition ${i.def}`);
          deferred.push(i.def);
        }
      }
    });
    return {
      target: { table: (t) => sql.tableIn(schema, t) },
      async finishReplay() {
        for (const def of deferred) await db.query(def);
      },
      async swap(tx) {
        for (const t of tables) {
          await tx.query(`DROP TABLE ${sql.table(t)}`);
          await tx.query(`ALTER TABLE ${sql.tableIn(schema, t)} SET SCHEMA ${quoteIdent(live)}`);
        }
        await clearInbox(tx, sql, projection.name);
        await tx.query(`DROP SCHEMA ${quoteIdent(schema)} CASCADE`);
      },
      async drop() {
        await db.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
      },
    };
  }

  const suffix = `__rb_${newId()}`;
  // The rows are copied into the live tables at the swap, whose indexes stay: the copies need only
  // their unique indexes (for ON CONFLICT), not the others.
  const ddl = (
    await db.query<{ type: string; name: string; tbl_name: string; sql: string }>(
      `SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name IN (${tables.map(() => '?').join(', ')}) AND sql IS NOT NULL ORDER BY type DESC`,
      tables,
    )
  ).filter((row) => row.type === 'table' || /^\s*CREATE\s+UNIQUE\s+INDEX/i.test(row.sql));
  const copyOf = (t: string): string => quoteIdent(`${t}${suffix}`);
  await db.transaction(async (tx) => {
    // Tables first (ORDER BY type DESC puts 'table' before 'index'), then their indexes under new names.
    for (const row of ddl) await tx.query(renameDdl(row, suffix));
  });
  return {
    target: { table: copyOf },
    async finishReplay() {},
    async swap(tx) {
      for (const t of tables) {
        const cols = (await tx.query<{ name: string }>(`SELECT name FROM pragma_table_info(?)`, [t])).map((c) => quoteIdent(c.name)).join(', ');
        await tx.query(`DELETE FROM ${sql.table(t)}`);
        await tx.query(`INSERT INTO ${sql.table(t)} (${cols}) SELECT ${cols} FROM ${copyOf(t)}`);
        await tx.query(`DROP TABLE ${copyOf(t)}`);
      }
      await clearInbox(tx, sql, projection.name);
    },
    async drop() {
      for (const t of tables) await db.query(`DROP TABLE IF EXISTS ${copyOf(t)}`);
    },
  };
}

/**
 * The new tables hold every event up to the rebuild's position (recorded as rebuilt_through), and live
 * application applied nothing beyond it (it was paused, and what it had applied was in the log by
 * then): the projection's inbox rows are all at or below the floor, and go.
 */
async function clearInbox(tx: SqlRunner, sql: SqlDialect, name: string): Promise<void> {
  await tx.query(`DELETE FROM ${sql.table(INBOX)} WHERE projection = ?`, [name]);
}

const IDENT = '(`[^`]+`|"(?:[^"]|"")+"|\\[[^\\]]+\\]|[A-Za-z_][\\w$]*)';
const unquote = (id: string): string => (/^[`"[]/.test(id) ? id.slice(1, -1).replace(/""/g, '"') : id);

/** Rewrites a CREATE TABLE / CREATE INDEX statement from sqlite_master to name the copy. */
export function renameDdl(row: { type: string; name: string; tbl_name: string; sql: string }, suffix: string): string {
  if (row.type === 'table') {
    const re = new RegExp(`^(\\s*CREATE\\s+TABLE\\s+)${IDENT}`, 'i');
    if (!re.test(row.sql)) throw new Error(`cannot copy table ${row.name}: unexpected DDL`);
    return row.sql.replace(re, (_m, head: string, id: string) => `${head}${quoteIdent(unquote(id) + suffix)}`);
  }
  const re = new RegExp(`^(\\s*CREATE\\s+(?:UNIQUE\\s+)?INDEX\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?)${IDENT}(\\s+ON\\s+)${IDENT}`, 'i');
  if (!re.test(row.sql)) throw new Error(`cannot copy index ${row.name}: unexpected DDL`);
  return row.sql.replace(
    re,
    (_m, head: string, idx: string, on: string, table: string) => `${head}${quoteIdent(unquote(idx) + suffix)}${on}${quoteIdent(unquote(table) + suffix)}`,
  );
}
