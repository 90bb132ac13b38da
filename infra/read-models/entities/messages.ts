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
  },
});
