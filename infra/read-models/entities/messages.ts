import { EntitySchema } from '@mikro-orm/core';

/** messages: the history of every chat, keyed by (chat, stream revision). */
export interface MessageRow {
  chatId: string;
  revision: number;
  messageId: string;
  senderId: string;
  clientMessageId: string;
  body: string;
  sentAt: Date;
  position: bigint;
  /** Set by the last MessageEdited; body is then the edited text. */
  editedAt: Date | null;
  /** Set by MessageDeleted; body is then '' (a deleted message's text is kept nowhere but the log). */
  deletedAt: Date | null;
  /** Revision of the event that last changed the body: an older edit delivered again changes nothing. */
  changedRevision: number | null;
}

export const MessageEntity = new EntitySchema<MessageRow>({
  name: 'MessageRow',
  tableName: 'messages',
  properties: {
    chatId: { type: 'string', primary: true, fieldName: 'chat_id' },
    revision: { type: 'integer', primary: true },
    messageId: { type: 'string', unique: true, fieldName: 'message_id' },
    senderId: { type: 'string', fieldName: 'sender_id' },
    clientMessageId: { type: 'string', fieldName: 'client_message_id' },
    body: { type: 'text' },
    sentAt: { type: 'datetime', fieldName: 'sent_at' },
    position: { type: 'bigint' },
    editedAt: { type: 'datetime', nullable: true, fieldName: 'edited_at' },
    deletedAt: { type: 'datetime', nullable: true, fieldName: 'deleted_at' },
    changedRevision: { type: 'integer', nullable: true, fieldName: 'changed_revision' },
  },
});

/**
 * message_changes: the latest edit or the delete of each changed message, kept by the messages
 * projection so a change that arrives before its message (a parked message, retried) still reaches it.
 * body is '' once deleted, and blanked on the sender's erasure, like messages.body.
 */
export interface MessageChangeRow {
  messageId: string;
  chatId: string;
  senderId: string;
  body: string;
  editedAt: Date | null;
  deletedAt: Date | null;
  changedRevision: number;
}

export const MessageChangeEntity = new EntitySchema<MessageChangeRow>({
  name: 'MessageChangeRow',
  tableName: 'message_changes',
  properties: {
    messageId: { type: 'string', primary: true, fieldName: 'message_id' },
    chatId: { type: 'string', fieldName: 'chat_id' },
    senderId: { type: 'string', fieldName: 'sender_id' },
    body: { type: 'text' },
    editedAt: { type: 'datetime', nullable: true, fieldName: 'edited_at' },
    deletedAt: { type: 'datetime', nullable: true, fieldName: 'deleted_at' },
    changedRevision: { type: 'integer', fieldName: 'changed_revision' },
  },
});
