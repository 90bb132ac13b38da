import { EntitySchema } from '@mikro-orm/core';

/**
 * message_counts: messages sent per user per UTC day ('YYYY-MM-DD'), keyed (user_id, day); a day
 * without messages has no row. Written by projections/messages-per-user-per-day.ts.
 */
export interface MessageCountRow {
  userId: string;
  day: string;
  count: number;
}

export const MessageCountEntity = new EntitySchema<MessageCountRow>({
  name: 'MessageCountRow',
  tableName: 'message_counts',
  properties: {
    userId: { type: 'string', primary: true, fieldName: 'user_id' },
    day: { type: 'string', primary: true },
    count: { type: 'integer' },
  },
});

/**
 * counted_messages: the message ids behind each count. A count is always recomputed as the number of
 * distinct ids here, so a message delivered twice, or in any order, is counted once.
 */
export interface CountedMessageRow {
  userId: string;
  day: string;
  messageId: string;
}

export const CountedMessageEntity = new EntitySchema<CountedMessageRow>({
  name: 'CountedMessageRow',
  tableName: 'counted_messages',
  properties: {
    userId: { type: 'string', primary: true, fieldName: 'user_id' },
    day: { type: 'string', primary: true },
    messageId: { type: 'string', primary: true, fieldName: 'message_id' },
  },
});
