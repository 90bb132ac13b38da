/**
 * Checks the SQL adapters (PostgreSQL, embedded) make of an append before and after writing it, so
 * that both refuse the same bad input with the same message. EventStoreDB does its own.
 */
import { expectedAsNumber, type EventData, type ExpectedRevision } from '../../commands/ports/event-store.js';

/** Every event has an id and a type, and no id appears twice in one append. */
export function checkEvents(streamId: string, events: readonly EventData[]): void {
  const seen = new Set<string>();
  for (const e of events) {
    if (typeof e.id !== 'string' || e.id === '') throw new Error(`Stream ${streamId}: every event needs an id`);
    if (typeof e.type !== 'string' || e.type === '') throw new Error(`Stream ${streamId}: event ${e.id} has no type`);
    if (seen.has(e.id)) throw new Error(`Stream ${streamId}: event id ${e.id} appears twice in one append`);
    seen.add(e.id);
  }
}

/** Normalizes an expected revision; -1 (as number or bigint) means "no stream". */
export function checkExpected(expected: ExpectedRevision, maxRevision = Number.MAX_SAFE_INTEGER): number | 'any' | 'no_stream' {
  const e = expectedAsNumber(expected);
  if (typeof e === 'number' && (!Number.isSafeInteger(e) || e < -1 || e > maxRevision)) {
    throw new RangeError(`Invalid expected revision ${String(expected)}`);
  }
  return e === -1 ? 'no_stream' : e;
}

/** JSON text of a value; refuses what JSON cannot hold (a function, a symbol) instead of storing a hole. */
export function toJson(value: unknown, e: EventData): string {
  const text: string | undefined = JSON.stringify(value);
  if (typeof text !== 'string') throw new TypeError(`Event ${e.id} (${e.type}): data and metadata must be JSON-serializable`);
  return text;
}

/**
 * Some event ids of an append are already stored (`found`, one per stored id): that is a retry, to be
 * answered with the original result, only when they are all of the append's events and in its stream.
 * Anything in between is a caller bug and must not be half-applied.
 */
export function checkRetry(streamId: string, eventCount: number, found: readonly { stream_id: string }[]): void {
  const elsewhere = found.find((r) => r.stream_id !== streamId);
  if (elsewhere) {
    throw new Error(`Stream ${streamId}: an event id of this append already exists in stream ${elsewhere.stream_id}`);
  }
  if (found.length < eventCount) {
    throw new Error(
      `Stream ${streamId}: ${found.length} of ${eventCount} event ids already exist; ` +
        'a retried append must carry exactly the events of the original one',
    );
  }
}
