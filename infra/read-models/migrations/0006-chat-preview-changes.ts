/**
 * The chats projection's own record of message changes (projections/message-changes.ts,
 * chat_preview_changes), so an edit or delete delivered before its message still reaches the chat
 * list's preview. Same columns as message_changes (0004). Same conventions as 0001.
 */
import { ReadModelMigration } from './read-model-migration.js';

export class Migration0006ChatPreviewChanges extends ReadModelMigration {
  override async up(): Promise<void> {
    const { builder, add } = this.schemaTools();
    add(builder().createTable('chat_preview_changes', (t) => {
      for (const column of ['message_id', 'chat_id', 'sender_id', 'body']) t.text(column).notNullable();
      for (const column of ['edited_at', 'deleted_at']) t.timestamp(column, { useTz: true }).nullable();
      t.integer('changed_revision').notNullable();
      t.primary(['message_id'], 'chat_preview_changes_pkey');
      // Erasure blanks by sender; a batch of sends asks whether its chats have any change.
      t.index(['sender_id'], 'chat_preview_changes_sender_id_idx');
      t.index(['chat_id'], 'chat_preview_changes_chat_id_idx');
    }));
  }
}
