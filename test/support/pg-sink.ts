/**
 * A small but real PostgreSQL EventSink for transport tests: one transaction per batch, the event id
 * as primary key (the inbox), ON CONFLICT DO NOTHING for redeliveries. It remembers which deliveries
 * were duplicates, so tests can say where they came from. A CHECK constraint makes records of streams
 * named 'poison…' fail like a genuine database error (not a thrown test double).
 */
import pg from 'pg';
import type { EventSink } from '../../infra/broker/event-sink.js';
import type { PublicRecord } from '../../projections/ports/public-record.js';

export interface ParkedRow {
  event_id: string;
  error: string;
  attempts: number;
  stream_id: string;
}

export class PgSink implements EventSink {
  readonly #pool: pg.Pool;
  readonly #s: string;
  /** Positions of deliveries the table already held. */
  readonly duplicatePositions: bigint[] = [];
  batches = 0;

  private constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#s = `"${schema}"`;
  }

  static async open(connectionString: string, schema: string): Promise<PgSink> {
    const pool = new pg.Pool({ connectionString, max: 4 });
    pool.on('error', () => undefined); // an idle client dropped by the server; the next query reconnects
    const sink = new PgSink(pool, schema);
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${sink.#s}`);
    await pool.query(`CREATE TABLE IF NOT EXISTS ${sink.#s}.received (
      event_id uuid PRIMARY KEY, position bigint NOT NULL,
      stream_id text NOT NULL CHECK (stream_id NOT LIKE 'poison%'), revision int NOT NULL)`);
    await pool.query(`CREATE TABLE IF NOT EXISTS ${sink.#s}.parked (
      event_id uuid PRIMARY KEY, stream_id text NOT NULL, error text NOT NULL, attempts int NOT NULL, record jsonb NOT NULL)`);
    return sink;
  }

  get duplicates(): number {
    return this.duplicatePositions.length;
  }

  async applyBatch(records: PublicRecord[]): Promise<{ applied: number; duplicates: number }> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const res = await client.query<{ event_id: string }>(
        `INSERT INTO ${this.#s}.received (event_id, position, stream_id, revision)
         SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::int[])
         ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
        [records.map((r) => r.id), records.map((r) => r.position), records.map((r) => r.streamId), records.map((r) => r.revision)],
      );
      await client.query('COMMIT');
      this.batches += 1;
      const inserted = new Set(res.rows.map((r) => r.event_id));
      const seen = new Set<string>();
      for (const r of records) {
        // Within one batch the same id twice also counts: the second one is a duplicate delivery.
        if (!inserted.has(r.id) || seen.has(r.id)) this.duplicatePositions.push(BigInt(r.position));
        seen.add(r.id);
      }
      return { applied: inserted.size, duplicates: records.length - inserted.size };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async park(record: PublicRecord, error: unknown, attempts: number): Promise<void> {
    await this.#pool.query(
      `INSERT INTO ${this.#s}.parked (event_id, stream_id, error, attempts, record) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (event_id) DO UPDATE SET error = excluded.error, attempts = excluded.attempts`,
      [record.id, record.streamId, error instanceof Error ? error.message : String(error), attempts, JSON.stringify(record)],
    );
  }

  async count(): Promise<number> {
    const res = await this.#pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${this.#s}.received`);
    return Number(res.rows[0]?.n ?? 0);
  }

  async ids(): Promise<Set<string>> {
    const res = await this.#pool.query<{ event_id: string }>(`SELECT event_id FROM ${this.#s}.received`);
    return new Set(res.rows.map((r) => r.event_id));
  }

  async parked(): Promise<ParkedRow[]> {
    const res = await this.#pool.query<ParkedRow>(`SELECT event_id, stream_id, error, attempts FROM ${this.#s}.parked ORDER BY event_id`);
    return res.rows;
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
