import { EntitySchema } from '@mikro-orm/core';

/**
 * read_positions: how far each participant has read each chat (0: nothing, revision 0 is
 * ChatStarted), when, and how many of the other participant's messages lie beyond it. Written by
 * projections/reads.ts; a row exists once the user has read or been sent something in the chat.
 */
export interface ReadPositionRow {
  chatId: string;
  userId: string;
  upToRevision: number;
  readAt: Date | null;
  unread: number;
}

export const ReadPositionEntity = new EntitySchema<ReadPositionRow>({
  name: 'ReadPositionRow',
  tableName: 'read_positions',
  properties: {
    chatId: { type: 'string', primary: true, fieldName: 'chat_id' },
    userId: { type: 'string', primary: true, fieldName: 'user_id' },
    upToRevision: { type: 'integer', fieldName: 'up_to_revision' },
    readAt: { type: 'datetime', nullable: true, fieldName: 'read_at' },
    unread: { type: 'integer' },
  },
});

/**
 * unread_messages: the other participant's messages a user has not read yet, by revision. The
 * unread count is always recounted from these rows, so a message delivered twice or after the read
 * that covers it is never counted wrong.
 */
export interface UnreadMessageRow {
  chatId: string;
  userId: string;
  revision: number;
}

export const UnreadMessageEntity = new EntitySchema<UnreadMessageRow>({
  name: 'UnreadMessageRow',
  tableName: 'unread_messages',
  properties: {
    chatId: { type: 'string', primary: true, fieldName: 'chat_id' },
    userId: { type: 'string', primary: true, fieldName: 'user_id' },
    revision: { type: 'integer', primary: true },
  },
});
