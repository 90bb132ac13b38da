/**
 * The event store port: the only source of truth. Three adapters implement it (PostgreSQL,
 * embedded SQLite, EventStoreDB) and one contract suite (test/event-store/contract.ts) holds them to it.
 *
 * Revisions count events within a stream from 0. Positions order the whole log: a reader that
 * has seen position p will never later be handed an event at or below p, even one whose
 * transaction committed late. Positions are opaque bigints, comparable only within one store.
 */
export type ExpectedRevision = 'any' | 'no_stream' | bigint | number;

export interface EventData {
  /** UUID; appending an event id the store already holds is a no-op (idempotent append). */
  id: string;
  type: string;
  data: unknown;
  metadata?: Record<string, unknown>;
}

export interface RecordedEvent {
  id: string;
  streamId: string;
  type: string;
  revision: number;
  position: bigint;
  data: unknown;
  metadata: Record<string, unknown>;
  createdAt: Date;
}

export interface AppendResult {
  /** Revision of the last event now in the stream. */
  nextRevision: number;
  /** Position of the last event appended (or, for a fully de-duplicated append, of the existing one). */
  position: bigint;
  /**
   * True when the store already held every event of the append (ids seen before this call): nothing
   * was written, and the result is the original one. EventStoreDB cannot tell, and leaves it unset.
   */
  alreadyStored?: boolean;
}

export interface ReadStreamOptions {
  /** First revision to return (inclusive). */
  fromRevision?: number;
  maxCount?: number;
  direction?: 'forwards' | 'backwards';
  /**
   * The caller reads no personal field, only ids, types and who sent what: a store that seals personal
   * data (infra/keys/sealed-store.ts) may hand the records out as stored, sealed, sparing a key lookup
   * and a decryption per record. Stores that seal nothing ignore it.
   */
  leaveSealed?: boolean;
}

export interface ReadAllOptions {
  /** Return events strictly after this position; 0n (the default) is the start of the log. */
  after?: bigint;
  maxCount?: number;
}

export interface Subscription extends AsyncIterable<RecordedEvent> {
  /** Ends the iteration; pending reads resolve as done. Safe to call more than once. */
  stop(): Promise<void>;
}

export interface SubscribeOptions {
  after?: bigint;
  /**
   * How late live events may come to this reader, in ms: an adapter that reads the log on each commit
   * may read less often, taking in more commits per read. A hint: adapters that push ignore it.
   * Readers that feed the read side (the relay) pass tens of ms; live delivery passes nothing.
   */
  readIntervalMs?: number;
}

export interface EventStore {
  readonly kind: 'postgres' | 'embedded' | 'eventstoredb';
  append(streamId: string, events: EventData[], expected: ExpectedRevision): Promise<AppendResult>;
  /** Events of one stream in revision order; an empty array when the stream does not exist. */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** One page of the whole log in position order. Call again with the last position to go on. */
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /** Catch up from `after`, then stay live until stopped. */
  subscribeToAll(options?: SubscribeOptions): Subscription;
  /** Position of the newest event readers can see now (0n when empty). */
  headPosition(): Promise<bigint>;
  close(): Promise<void>;
}

export class WrongExpectedRevisionError extends Error {
  readonly code = 'WRONG_EXPECTED_REVISION';
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedRevision,
    readonly actual: number | 'no_stream',
  ) {
    super(`Stream ${streamId}: expected revision ${String(expected)}, actual ${String(actual)}`);
    this.name = 'WrongExpectedRevisionError';
  }
}

export const START = 0n;

/** Helper for adapters: -1 means "no stream" in revision arithmetic. */
export function expectedAsNumber(expected: ExpectedRevision): number | 'any' | 'no_stream' {
  return typeof expected === 'bigint' ? Number(expected) : expected;
}
