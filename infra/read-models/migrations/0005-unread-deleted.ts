/**
 * Unread counts leave deleted messages out (projections/reads.ts, version 2): an unread message row
 * names its message, and deletions are kept so that a message delivered after its deletion is not
 * counted. Rows written before carry no message id; the projection's version bump asks for a rebuild.
 * Same conventions as 0001.
 */
import { ReadModelMigration } from './read-model-migration.js';

export class Migration0005UnreadDeleted extends ReadModelMigration {
  override async up(): Promise<void> {
    const { builder, add } = this.schemaTools();

    add(builder().alterTable('unread_messages', (t) => {
      t.text('message_id').nullable();
    }));
    add(builder().createTable('read_deleted_messages', (t) => {
      t.text('chat_id').notNullable();
      t.text('message_id').notNullable();
      t.primary(['chat_id', 'message_id'], 'read_deleted_messages_pkey');
    }));
    // A deletion removes its message's unread rows by id.
    add(builder().alterTable('unread_messages', (t) => {
      t.index(['chat_id', 'message_id'], 'unread_messages_message_id_idx');
    }));
  }
}
