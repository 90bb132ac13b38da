/**
 * What the projector transport (consumer.ts) hands records to. The SQL projector
 * (projections/runtime/sql-projector.ts) fits it; tests use a plain PostgreSQL sink.
 *
 * applyBatch must commit atomically with its own de-duplication (inbox keyed by event id): the
 * consumer acks a message only after applyBatch resolved, so a crash between commit and ack brings
 * the message back and the sink must recognize it. It may either throw (nothing committed; the
 * consumer then isolates the failing record by applying one at a time) or resolve and report the
 * records it could not apply (the rest committed).
 */
import type { PublicRecord } from '../../projections/ports/public-record.js';

export interface FailedRecord {
  record: PublicRecord;
  error: unknown;
}

export interface ApplyResult {
  /** Records newly applied (informational). */
  applied?: number;
  /** Records the inbox already held: redeliveries, re-publishes (informational). */
  duplicates?: number;
  /** Records that could not be applied; every other record of the batch was committed. */
  failed?: FailedRecord[];
}

export interface EventSink {
  applyBatch(records: PublicRecord[]): Promise<ApplyResult | void>;
  /** Keeps a record that cannot be applied, with its error (a dead letter), so it is not lost. */
  park(record: PublicRecord, error: unknown, attempts: number): Promise<void>;
}
