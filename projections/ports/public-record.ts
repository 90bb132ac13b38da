/**
 * The public form of an event: what leaves the write side (RabbitMQ, sockets, audit output, CLI).
 * Built only through toPublicRecord, which upcasts and then redacts, so no secret can slip out
 * by a new code path forgetting to redact.
 */
import { isDomainEventType } from '../../domain/events.js';
import { redactUnknown, toPublicEvent, type PublicEvent } from '../../domain/public-event.js';
import { toDomainEvent, schemaVersionOf } from '../../commands/ports/codec.js';
import type { RecordedEvent } from '../../commands/ports/event-store.js';

export interface PublicRecord {
  id: string;
  streamId: string;
  revision: number;
  /** Decimal string: JSON has no 64-bit integers. */
  position: string;
  type: string;
  version: number;
  data: Record<string, unknown>;
  createdAt: string;
}

export function toPublicRecord(e: RecordedEvent): PublicRecord {
  const domain = toDomainEvent(e);
  return {
    id: e.id,
    streamId: e.streamId,
    revision: e.revision,
    position: e.position.toString(),
    type: e.type,
    version: domain?.version ?? schemaVersionOf(e),
    data: (domain ? toPublicEvent(domain).data : redactUnknown(e.data)) as Record<string, unknown>,
    createdAt: e.createdAt.toISOString(),
  };
}

/** A known event type, typed for projections; null when this code does not know the type/version. */
export function publicEventOf(record: PublicRecord): PublicEvent | null {
  if (!isDomainEventType(record.type)) return null;
  return { type: record.type, version: record.version, data: record.data } as PublicEvent;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Validates a record that arrived from outside the process (the broker): never trust its shape. */
export function parsePublicRecord(value: unknown): PublicRecord | Error {
  if (typeof value !== 'object' || value === null) return new Error('record is not an object');
  const r = value as Record<string, unknown>;
  if (typeof r['id'] !== 'string' || !UUID.test(r['id'])) return new Error('record.id is not a UUID');
  if (typeof r['streamId'] !== 'string' || r['streamId'].length === 0) return new Error('record.streamId missing');
  if (typeof r['revision'] !== 'number' || !Number.isInteger(r['revision']) || r['revision'] < 0) return new Error('record.revision invalid');
  if (typeof r['position'] !== 'string' || !/^\d{1,20}$/.test(r['position'])) return new Error('record.position invalid');
  if (typeof r['type'] !== 'string' || r['type'].length === 0) return new Error('record.type missing');
  if (typeof r['version'] !== 'number' || !Number.isInteger(r['version'])) return new Error('record.version invalid');
  if (typeof r['data'] !== 'object' || r['data'] === null || Array.isArray(r['data'])) return new Error('record.data is not an object');
  if (typeof r['createdAt'] !== 'string' || Number.isNaN(Date.parse(r['createdAt']))) return new Error('record.createdAt invalid');
  return {
    id: r['id'], streamId: r['streamId'], revision: r['revision'], position: r['position'], type: r['type'],
    version: r['version'], data: r['data'] as Record<string, unknown>, createdAt: r['createdAt'],
  };
}
