/**
 * Opens MikroORM on the read-model database and brings its schema up to date.
 *
 * - PostgreSQL (@mikro-orm/postgresql): tables live in one schema (per-test schemas isolate tests);
 *   MikroORM qualifies its own queries with it, raw SQL goes through `db.sql.table()`, and every
 *   pooled connection also gets that search_path so an unqualified name cannot land elsewhere.
 * - SQLite (@mikro-orm/better-sqlite): one file, the zero-setup default next to the embedded store.
 *
 * Entities are EntitySchema objects passed as a list (no decorators, no reflect-metadata, no globbing);
 * migrations are an inline list run at open. Two processes starting at once take turns: on PostgreSQL
 * behind an advisory lock; on SQLite, whose migrator creates its table outside the transaction, the
 * loser of the race retries and then finds the work done.
 */
import { ensurePrivateDir } from '../data-dir.js';
import { dirname } from 'node:path';
import { MikroORM, type Options } from '@mikro-orm/core';
import type { AbstractSqlDriver, Knex, SqlEntityManager } from '@mikro-orm/knex';
import { Migrator } from '@mikro-orm/migrations';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { READ_MODEL_ENTITIES } from './entities/index.js';
import { READ_MODEL_MIGRATIONS } from './migrations/index.js';
import { sqlDialect } from './sql.js';
import { quoteIdent, type SqlDialect, type SqlParam } from '../../projections/ports/sql.js';
import type { ColumnKind, ReadModelDb, SqlRunner } from '../../projections/ports/read-model.js';
import { isTransientError } from '../../commands/ports/transient-error.js';

export type ReadModelTarget =
  | { kind: 'postgresql'; connectionString: string; schema?: string; poolSize?: number }
  | { kind: 'sqlite'; file: string };

type Orm = MikroORM<AbstractSqlDriver, SqlEntityManager>;
/** MikroORM on the read models, and `db`, the port projections and their queries use (projections/ports/read-model.ts). */
export type ReadModelOrm = Orm & { readonly db: ReadModelDb };

const MIGRATIONS_TABLE = 'read_model_migrations';
const SQLITE_BUSY_TIMEOUT_MS = 15_000;
const dialects = new WeakMap<object, SqlDialect>();

/** The dialect helpers of an ORM opened here. */
export function sqlOf(orm: Orm): SqlDialect {
  const d = dialects.get(orm);
  if (!d) throw new Error('This MikroORM instance was not opened by openReadModelOrm');
  return d;
}

/** A fresh EntityManager: never the global one, so concurrent work never shares an identity map. */
export const emOf = (orm: Orm): SqlEntityManager => orm.em.fork();

interface PoolConnection {
  query(sql: string, cb: (err: Error | null) => void): void;
}

export async function openReadModelOrm(target: ReadModelTarget, logger: Logger): Promise<ReadModelOrm> {
  const log = logger.child({ component: 'read-models' });
  const common = {
    entities: [...READ_MODEL_ENTITIES],
    discovery: { disableDynamicFileAccess: true, requireEntitiesArray: true, warnWhenNoEntities: false },
    extensions: [Migrator],
    migrations: {
      migrationsList: READ_MODEL_MIGRATIONS,
      tableName: MIGRATIONS_TABLE,
      snapshot: false,
      silent: true,
      transactional: true,
      allOrNothing: true,
    },
    // MikroORM's query log (with timings) at trace level only.
    debug: log.isLevelEnabled('trace') ? (['query', 'query-params'] as const).slice() : false,
    logger: (message: string) => log.trace(message),
    // knex's own notices ("Connection Error: …" on a database restart) went to the console as plain
    // text, outside the JSON log and the error log. Only their text is passed on, as knex wrote it.
    driverOptions: {
      log: {
        warn: (message: unknown) => log.warn({ source: 'knex' }, String(message)),
        error: (message: unknown) => log.error({ source: 'knex' }, String(message)),
        deprecate: (message: unknown) => log.debug({ source: 'knex' }, String(message)),
        debug: (message: unknown) => log.trace({ source: 'knex' }, String(message)),
      },
    },
  };

  let orm: Orm;
  let dialect: SqlDialect;
  if (target.kind === 'postgresql') {
    const schema = target.schema ?? 'public';
    const { PostgreSqlDriver } = await import('@mikro-orm/postgresql');
    const options = {
      ...common,
      driver: PostgreSqlDriver,
      clientUrl: target.connectionString,
      schema,
      pool: {
        min: 0,
        max: target.poolSize ?? 10,
        afterCreate: (conn: PoolConnection, done: (err: Error | null, conn: PoolConnection) => void) => {
          conn.query(`SET search_path TO ${quoteIdent(schema)}, public`, (err) => done(err, conn));
        },
      },
    };
    orm = (await MikroORM.init(options as Options)) as unknown as Orm;
    try {
      if (!(await migrationsDone(orm, `${quoteIdent(schema)}.${MIGRATIONS_TABLE}`))) {
        await migratePostgres(target.connectionString, schema, () => withRetries(() => orm.getMigrator().up(), log, droppedMeanwhile));
      }
    } catch (err) {
      await orm.close();
      throw err;
    }
    dialect = sqlDialect('postgresql', schema);
  } else {
    ensurePrivateDir(dirname(target.file));
    const { BetterSqliteDriver } = await import('@mikro-orm/better-sqlite');
    orm = (await MikroORM.init({
      ...common,
      driver: BetterSqliteDriver,
      dbName: target.file,
      pool: {
        afterCreate: (conn: { pragma(s: string): unknown }, done: (err: Error | null, conn: unknown) => void) => {
          // WAL: readers (HTTP queries, the CLI) never block the projector. FULL: a commit survives a
          // power loss, as a broker consumer that acks after it needs; one fsync per batch is cheap.
          conn.pragma('journal_mode = WAL');
          conn.pragma('synchronous = FULL');
          // Erasure (docs/privacy.md): without it, a row's old bytes stay in the file's free space after
          // every update, delete or page split, where no later scrub can find them.
          conn.pragma('secure_delete = ON');
          conn.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
          done(null, conn);
        },
      },
    } as Options)) as unknown as Orm;
    try {
      // The SQLite migrator creates its table outside the transaction: the loser of a race retries.
      if (!(await migrationsDone(orm, MIGRATIONS_TABLE))) await withRetries(() => orm.getMigrator().up(), log, () => true);
    } catch (err) {
      await orm.close();
      throw err;
    }
    dialect = sqlDialect('sqlite', undefined);
  }
  dialects.set(orm, dialect);
  return Object.assign(orm, { db: readModelDb(orm, dialect, target, logger) });
}

function pgTarget(target: ReadModelTarget): Extract<ReadModelTarget, { kind: 'postgresql' }> {
  if (target.kind !== 'postgresql') throw new Error('a PostgreSQL schema beside a SQLite read-model database');
  return target;
}

const runnerOf = (em: SqlEntityManager): SqlRunner => ({ query: (statement, params) => sqlQuery(em, statement, params) });

/** The port projections, their queries and the runtime use (projections/ports/read-model.ts), on this ORM's connections. */
function readModelDb(orm: Orm, sql: SqlDialect, target: ReadModelTarget, logger: Logger): ReadModelDb {
  const kindOf = (runtimeType: string | undefined): ColumnKind =>
    runtimeType === 'Date' ? 'time' : runtimeType === 'bigint' ? 'bigint' : runtimeType === 'number' ? 'number' : 'text';
  return {
    sql,
    query: (statement, params) => sqlQuery(emOf(orm), statement, params),
    transaction: (work) => emOf(orm).transactional((em) => work(runnerOf(em))),
    connectionString: target.kind === 'postgresql' ? target.connectionString : undefined,
    async openFresh(where) {
      const fresh = await openReadModelOrm(
        'file' in where ? { kind: 'sqlite', file: where.file } : { ...pgTarget(target), schema: where.schema, poolSize: 1 },
        logger,
      );
      return { ...fresh.db, close: () => fresh.close() };
    },
    isTransient: isTransientError,
    shapeOf(className) {
      const meta = orm.getMetadata().find(className);
      if (!meta) return undefined;
      const props = meta.props.filter((p) => !p.autoincrement && p.fieldNames?.length);
      return {
        table: meta.tableName,
        columns: props.map((p) => ({ name: p.fieldNames[0]!, kind: kindOf(p.runtimeType), primary: p.primary === true, unique: p.unique === true })),
      };
    },
  };
}

/**
 * True when the migrations table already lists every migration: then only the first process of a
 * deployment runs the migrator, whose listing of every schema's tables costs each later start
 * hundreds of milliseconds (issue 13). Any doubt (no table yet, a read error) answers false, and the
 * migrator, which is idempotent, decides.
 */
async function migrationsDone(orm: Orm, table: string): Promise<boolean> {
  try {
    const rows = await sqlQuery<{ name: string }>(emOf(orm), `select name from ${table}`);
    const done = new Set(rows.map((r) => String(r.name).replace(/\.[jt]s$/, '')));
    return READ_MODEL_MIGRATIONS.every((m) => done.has(m.name));
  } catch {
    return false;
  }
}

/**
 * Runs the migrations on PostgreSQL under a session advisory lock held on a connection of its own,
 * so concurrent starts (several processes, parallel tests on one schema) run them one at a time.
 */
async function migratePostgres(connectionString: string, schema: string, migrate: () => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString });
  client.on('error', () => undefined); // the lock dies with the session; the migration reports its own errors
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1), hashtext($2))', ['read-models:migrate', schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    await migrate();
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * MikroORM's migrator lists the tables of every schema in the database (casting each name to
 * regclass); a schema or table dropped meanwhile by someone else (another deployment's, a finished
 * `audit verify` scratch copy, a test) fails that listing with 3F000 or 42P01. Nothing has run yet:
 * try again.
 */
export const droppedMeanwhile = (err: unknown): boolean => {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return code === '3F000' || code === '42P01';
};

/** Runs a migration, again (up to 5 attempts, backing off) while it fails in a way `retryable` calls a race. */
export async function withRetries<T>(migrate: () => Promise<T>, log: Logger, retryable: (err: unknown) => boolean): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrate();
    } catch (err) {
      if (attempt >= 5 || !retryable(err)) throw err;
      log.debug({ err, attempt }, 'read-model migration raced another process; retrying');
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

/**
 * Runs one statement with `?` placeholders in the EntityManager's transaction (if any) and returns its
 * rows. Through the knex instance of MikroORM's own connection, with real bound parameters:
 * em.execute would inline every parameter as an escaped literal, which for the megabyte-sized JSON of
 * a bulk write costs an escaping pass, a literal parse on the server and a lot of garbage.
 */
export async function sqlQuery<T = Record<string, unknown>>(em: SqlEntityManager, statement: string, params: ReadonlyArray<SqlParam> = []): Promise<T[]> {
  const q = em.getConnection().getKnex().raw(statement, params as Knex.RawBinding[]);
  const trx = em.getTransactionContext<Knex.Transaction>();
  if (trx) q.transacting(trx);
  const res: unknown = await q;
  if (Array.isArray(res)) return res as T[]; // better-sqlite3: the rows (or [] for a statement without any)
  const rows = (res as { rows?: unknown } | null)?.rows;
  return Array.isArray(rows) ? (rows as T[]) : [];
}
