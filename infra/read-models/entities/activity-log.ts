import { EntitySchema } from '@mikro-orm/core';

export const ACTIVITY_ACTIONS = ['register', 'login', 'logout', 'start_chat', 'open_chat', 'send_message', 'read_chat', 'erase_account', 'edit_message', 'delete_message'] as const;
export type ActivityAction = (typeof ACTIVITY_ACTIONS)[number];

/** activity_log: one row per user action, for audit. `id` is a surrogate; event_id is the natural key. */
export interface ActivityRow {
  id: bigint;
  eventId: string;
  position: bigint;
  userId: string;
  action: ActivityAction;
  target: string | null;
  at: Date;
}

export const ActivityEntity = new EntitySchema<ActivityRow>({
  name: 'ActivityRow',
  tableName: 'activity_log',
  properties: {
    id: { type: 'bigint', primary: true, autoincrement: true },
    eventId: { type: 'uuid', unique: true, fieldName: 'event_id' },
    position: { type: 'bigint' },
    userId: { type: 'string', fieldName: 'user_id' },
    action: { type: 'string' },
    target: { type: 'string', nullable: true },
    at: { type: 'datetime' },
  },
});
