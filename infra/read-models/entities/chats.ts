import { EntitySchema } from '@mikro-orm/core';

/**
 * chats: one row per chat with its last message. Participant columns are nullable because a
 * MessageSent can be delivered before its ChatStarted; the last message is guarded by revision.
 */
export interface ChatRow {
  chatId: string;
  participantA: string | null;
  participantB: string | null;
  startedBy: string | null;
  startedAt: Date | null;
  lastMessageRevision: number | null;
  lastMessageBody: string | null;
  lastMessageSender: string | null;
  lastMessageAt: Date | null;
  lastMessageId: string | null;
  lastMessageEditedAt: Date | null;
  /** Set when the last message was deleted: its body is then ''. */
  lastMessageDeletedAt: Date | null;
}

export const ChatEntity = new EntitySchema<ChatRow>({
  name: 'ChatRow',
  tableName: 'chats',
  properties: {
    chatId: { type: 'string', primary: true, fieldName: 'chat_id' },
    participantA: { type: 'string', nullable: true, fieldName: 'participant_a' },
    participantB: { type: 'string', nullable: true, fieldName: 'participant_b' },
    startedBy: { type: 'string', nullable: true, fieldName: 'started_by' },
    startedAt: { type: 'datetime', nullable: true, fieldName: 'started_at' },
    lastMessageRevision: { type: 'integer', nullable: true, fieldName: 'last_message_revision' },
    lastMessageBody: { type: 'text', nullable: true, fieldName: 'last_message_body' },
    lastMessageSender: { type: 'string', nullable: true, fieldName: 'last_message_sender' },
    lastMessageAt: { type: 'datetime', nullable: true, fieldName: 'last_message_at' },
    lastMessageId: { type: 'string', nullable: true, fieldName: 'last_message_id' },
    lastMessageEditedAt: { type: 'datetime', nullable: true, fieldName: 'last_message_edited_at' },
    lastMessageDeletedAt: { type: 'datetime', nullable: true, fieldName: 'last_message_deleted_at' },
  },
});
