/**
 * Edited and deleted messages (projections/messages.ts, projections/chats.ts): when a message was
 * last edited or deleted, which event last changed it (so an edit delivered twice is a no-op), and
 * the chat preview's message id, so an edit or delete of the last message reaches the chat list.
 * Same conventions as 0001.
 */
import { ReadModelMigration } from './read-model-migration.js';

export class Migration0004MessageChanges extends ReadModelMigration {
  override async up(): Promise<void> {
    const { schema, builder, add } = this.schemaTools();
    const table = (name: string): string => (schema ? `"${schema}"."${name}"` : `"${name}"`);

    add(builder().alterTable('messages', (t) => {
      t.timestamp('edited_at', { useTz: true }).nullable();
      t.timestamp('deleted_at', { useTz: true }).nullable();
      t.integer('changed_revision').nullable();
    }));
    add(builder().createTable('message_changes', (t) => {
      t.text('message_id').notNullable();
      t.text('chat_id').notNullable();
      t.text('sender_id').notNullable();
      t.text('body').notNullable();
      t.timestamp('edited_at', { useTz: true }).nullable();
      t.timestamp('deleted_at', { useTz: true }).nullable();
      t.integer('changed_revision').notNullable();
      t.primary(['message_id'], 'message_changes_pkey');
      // Erasure blanks by sender.
      t.index(['sender_id'], 'message_changes_sender_id_idx');
    }));
    add(builder().alterTable('chats', (t) => {
      t.text('last_message_id').nullable();
      t.timestamp('last_message_edited_at', { useTz: true }).nullable();
      t.timestamp('last_message_deleted_at', { useTz: true }).nullable();
    }));
    // Chats projected before this migration learn their last message's id from the history.
    this.addSql(`UPDATE ${table('chats')} SET last_message_id = (SELECT m.message_id FROM ${table('messages')} m
      WHERE m.chat_id = ${table('chats')}.chat_id AND m.revision = ${table('chats')}.last_message_revision)
      WHERE last_message_revision IS NOT NULL`);
  }
}
