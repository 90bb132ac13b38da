/**
 * Writing a group-commit batch (append-batcher.ts) to PostgreSQL: the appends of several streams in
 * one statement and so one transaction, each with its own expected-revision check and outcome.
 */
import type pg from 'pg';
import type { BatchOutcome, BatchedAppend } from '../append-batcher.js';
import { errorInfo, type PostgresEventStoreLogger } from './log.js';
import { jsonArray, type Statements } from './sql.js';

export interface AppendRow {
  revision: number;
  position: string;
}

/**
 * An append's result in a batch: written, or not (its expected revision failed) with what the batch
 * saw: the stream's current revision (null: no stream; undefined: not known) and whether some of its
 * event ids are already stored (undefined: not known).
 */
export type BatchResult = ({ written: true } & AppendRow) | { written: false; current?: number | null; stored?: boolean };

export interface AppendQuery {
  name: string;
  text: string;
  values: unknown[];
}

/** One append as the batcher carries it: its own statement (to write it alone) and its batch parts. */
export interface PendingAppend {
  query: AppendQuery;
  expected: number;
  ids: string[];
  types: string[];
  data: string[];
  metadata: string[];
}

interface BatchRow {
  stream_id: string;
  written: boolean;
  revision: number | null;
  position: string | null;
  stored: boolean;
}

/** One append in its own transaction, through the single-append statement. */
export async function writeAlone(pool: pg.Pool, query: AppendQuery): Promise<AppendRow | undefined> {
  const res = await pool.query<AppendRow>(query);
  return res.rows[0];
}

/** Writes a batch in one transaction; a batch of one runs the single-append statement. */
export async function writeBatch(
  pool: pg.Pool,
  sql: Statements,
  logger: PostgresEventStoreLogger,
  batch: readonly BatchedAppend<PendingAppend>[],
): Promise<BatchOutcome<BatchResult>[]> {
  const alone = async (b: BatchedAppend<PendingAppend>): Promise<BatchOutcome<BatchResult>> => {
    try {
      const row = await writeAlone(pool, b.item.query);
      return { kind: 'done', result: row ? { written: true, ...row } : { written: false } };
    } catch (error) {
      return { kind: 'failed', error };
    }
  };
  if (batch.length === 1) return [await alone(batch[0]!)];
  const streamIds: string[] = [];
  const counts: number[] = [];
  const expected: number[] = [];
  const streamIndex: number[] = [];
  const indexInAppend: number[] = [];
  const ids: string[] = [];
  const types: string[] = [];
  const data: string[] = [];
  const metadata: string[] = [];
  batch.forEach((b, i) => {
    streamIds.push(b.streamId);
    counts.push(b.eventCount);
    expected.push(b.item.expected);
    for (let k = 0; k < b.eventCount; k++) {
      streamIndex.push(i + 1);
      indexInAppend.push(k + 1);
      ids.push(b.item.ids[k]!);
      types.push(b.item.types[k]!);
      data.push(b.item.data[k]!);
      metadata.push(b.item.metadata[k]!);
    }
  });
  let rows: BatchRow[];
  try {
    const res = await pool.query<BatchRow>({
      name: 'es_append_batch',
      text: sql.appendBatch,
      values: [streamIds, counts, expected, streamIndex, indexInAppend, ids, types, jsonArray(data), jsonArray(metadata)],
    });
    rows = res.rows;
  } catch (err) {
    // One append's error (an event id already stored: a retry) or a deadlock fails the whole
    // statement: write each alone, so each gets its own outcome.
    logger.warn({ ...errorInfo(err), appends: batch.length }, 'event store: append batch failed; writing its appends one by one');
    return Promise.all(batch.map(alone));
  }
  const byStream = new Map(rows.map((r) => [r.stream_id, r]));
  return batch.map((b): BatchOutcome<BatchResult> => {
    const r = byStream.get(b.streamId);
    if (!r) return { kind: 'done', result: { written: false } };
    if (r.written) return { kind: 'done', result: { written: true, revision: r.revision!, position: r.position! } };
    return { kind: 'done', result: { written: false, current: r.revision, stored: r.stored } };
  });
}
