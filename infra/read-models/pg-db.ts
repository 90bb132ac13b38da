/**
 * The projector's hot path on PostgreSQL straight on the pg driver, without MikroORM and knex in between
 * (bench:e2e's profile put a quarter of the projector's CPU in the driver's per-query overhead and knex's
 * query building, and PostgreSQL parsed and planned the same few statements for every batch):
 *
 * - each statement text is converted from `?` to `$n` placeholders once, then run as a named prepared
 *   statement, which each connection parses and plans once; texts past a cap (IN lists of every length)
 *   run unnamed, so the per-connection statement cache stays bounded;
 * - a transaction's BEGIN travels with its first statement when that one has no parameters (the
 *   runtime's advisory lock), one round trip fewer per batch;
 * - timestamps come back as text, as MikroORM's connection returns them, so callers read the same values.
 *
 * Everything else (openFresh, shapeOf, isTransient) is the ORM-backed ReadModelDb's. PostgreSQL only.
 */
import pg from 'pg';
import type { ReadModelDb, SqlRunner } from '../../projections/ports/read-model.js';
import { quoteIdent, type SqlParam } from '../../projections/ports/sql.js';
import { checkOut, rollback } from '../pg-checkout.js';

/** Distinct statement texts prepared by name; later ones run unnamed. */
const MAX_NAMED = 200;

interface Prepared {
  text: string;
  name: string | undefined;
}

/** `?` → `$1, $2, …`, outside quoted strings and identifiers (knex.raw's convention, without `??`). */
export function toNumbered(statement: string): string {
  let out = '';
  let n = 0;
  let quote: string | null = null;
  for (const ch of statement) {
    if (quote) {
      if (ch === quote) quote = null;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') out += `$${++n}`;
    else out += ch;
  }
  return out;
}

export interface DirectPgOptions {
  connectionString: string;
  schema: string;
  poolSize?: number;
}

export function directPgDb(db: ReadModelDb, opts: DirectPgOptions): ReadModelDb & { close(): Promise<void> } {
  const types = new pg.TypeOverrides();
  for (const oid of [1082, 1114, 1184, 1186]) types.setTypeParser(oid, (s: string) => s);
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.poolSize ?? 4,
    types,
    // Unqualified names resolve in the read models' schema, as on the ORM's connections.
    options: `-c search_path=${quoteIdent(opts.schema)},public`,
  });
  pool.on('error', () => undefined); // an idle client's failure: the next checkout gets a new one
  const prepared = new Map<string, Prepared>();
  let named = 0;
  const prepare = (statement: string): Prepared => {
    let p = prepared.get(statement);
    if (!p) {
      p = { text: toNumbered(statement), name: named < MAX_NAMED ? `rm_${named++}` : undefined };
      if (prepared.size < MAX_NAMED * 4) prepared.set(statement, p);
    }
    return p;
  };
  const run = async <T>(client: pg.Pool | pg.PoolClient, statement: string, params: ReadonlyArray<SqlParam> = []): Promise<T[]> => {
    const p = prepare(statement);
    const res = await client.query({ text: p.text, values: params as SqlParam[], ...(p.name ? { name: p.name } : {}) });
    return res.rows as T[];
  };
  return {
    ...db,
    query: (statement, params) => run(pool, statement, params),
    async transaction(work) {
      const { client, release } = await checkOut(pool);
      let begun = false;
      const tx: SqlRunner = {
        async query<T>(statement: string, params: ReadonlyArray<SqlParam> = []): Promise<T[]> {
          if (!begun && params.length === 0) {
            begun = true;
            // Simple protocol, two statements, one round trip; the result of the second is the caller's.
            const res = (await client.query(`BEGIN; ${statement}`)) as unknown as pg.QueryResult[];
            return (res[res.length - 1]?.rows ?? []) as T[];
          }
          if (!begun) {
            begun = true;
            await client.query('BEGIN');
          }
          return run<T>(client, statement, params);
        },
      };
      let broken: Error | undefined;
      try {
        const result = await work(tx);
        if (begun) await client.query('COMMIT');
        return result;
      } catch (err) {
        if (begun) broken = await rollback(client);
        throw err;
      } finally {
        release(broken);
      }
    },
    close: () => pool.end(),
  };
}
