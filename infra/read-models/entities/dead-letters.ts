import { EntitySchema } from '@mikro-orm/core';

/**
 * dead_letters: records a projection could not apply, with the error, kept until retried.
 * One row per (projection, event); `projection` is '*' for a record no projection could even read.
 */
export interface DeadLetterRow {
  id: bigint;
  projection: string;
  eventId: string;
  position: bigint;
  record: Record<string, unknown>;
  error: string;
  stack: string | null;
  attempts: number;
  parkedAt: Date;
  retriedAt: Date | null;
}

export const DeadLetterEntity = new EntitySchema<DeadLetterRow>({
  name: 'DeadLetterRow',
  tableName: 'dead_letters',
  uniques: [{ properties: ['projection', 'eventId'] }],
  properties: {
    id: { type: 'bigint', primary: true, autoincrement: true },
    projection: { type: 'string' },
    eventId: { type: 'string', fieldName: 'event_id' },
    position: { type: 'bigint' },
    record: { type: 'json' },
    error: { type: 'text' },
    stack: { type: 'text', nullable: true },
    attempts: { type: 'integer' },
    parkedAt: { type: 'datetime', fieldName: 'parked_at' },
    retriedAt: { type: 'datetime', nullable: true, fieldName: 'retried_at' },
  },
});
