/**
 * Read receipts (projections/reads.ts): read positions with their unread counts, and the unread
 * messages they are counted from. Same conventions as 0001.
 */
import { ReadModelMigration } from './read-model-migration.js';

export class Migration0003Reads extends ReadModelMigration {
  override async up(): Promise<void> {
    const { builder, add } = this.schemaTools();

    add(builder().createTable('read_positions', (t) => {
      t.text('chat_id').notNullable();
      t.text('user_id').notNullable();
      t.integer('up_to_revision').notNullable();
      t.timestamp('read_at', { useTz: true }).nullable();
      t.integer('unread').notNullable();
      t.primary(['chat_id', 'user_id'], 'read_positions_pkey');
      // The chat list joins on (chat_id, user_id): the primary key; a user's unread total: this.
      t.index(['user_id'], 'read_positions_user_id_idx');
    }));

    add(builder().createTable('unread_messages', (t) => {
      t.text('chat_id').notNullable();
      t.text('user_id').notNullable();
      t.integer('revision').notNullable();
      t.primary(['chat_id', 'user_id', 'revision'], 'unread_messages_pkey');
    }));
  }
}
