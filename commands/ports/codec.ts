/**
 * Translation between domain events and the store's records. The schema version travels in the
 * metadata, and every read goes through upcast so old shapes reach the domain as current ones.
 */
import type { DomainEvent } from '../../domain/events.js';
import { upcast } from '../../domain/upcast.js';
import type { EventData, RecordedEvent } from './event-store.js';

export function toEventData(event: DomainEvent, id: string, metadata: Record<string, unknown> = {}): EventData {
  return { id, type: event.type, data: event.data, metadata: { ...metadata, schemaVersion: event.version } };
}

export function schemaVersionOf(recorded: RecordedEvent): number {
  const v = recorded.metadata['schemaVersion'];
  return typeof v === 'number' ? v : 1;
}

/** The domain event a record holds, upcast to its current version; null for a type this code does not know. */
export function toDomainEvent(recorded: RecordedEvent): DomainEvent | null {
  return upcast(recorded.type, schemaVersionOf(recorded), recorded.data);
}
