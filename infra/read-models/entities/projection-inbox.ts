import { EntitySchema } from '@mikro-orm/core';

/**
 * projection_inbox: (projection, event) pairs already applied, written in the same transaction as the
 * effect. Events at or below the projection's rebuilt_through checkpoint need no row: a rebuild or
 * the inbox compaction (projections/runtime/inbox-compaction.ts) has seen all of them applied.
 */
export interface InboxRow {
  projection: string;
  eventId: string;
}

export const InboxEntity = new EntitySchema<InboxRow>({
  name: 'InboxRow',
  tableName: 'projection_inbox',
  properties: {
    projection: { type: 'string', primary: true },
    eventId: { type: 'uuid', primary: true, fieldName: 'event_id' },
  },
});
