/**
 * Messages per user per day (projections/messages-per-user-per-day.ts): the counts, and the message
 * ids they are recomputed from. Same conventions as 0001: one knex schema-builder migration for
 * PostgreSQL and SQLite, constraint names as PostgreSQL's LIKE copies them (so a blue/green rebuild
 * keeps them).
 */
import { ReadModelMigration } from './read-model-migration.js';

export class Migration0002MessageCounts extends ReadModelMigration {
  override async up(): Promise<void> {
    const { builder, add } = this.schemaTools();

    add(builder().createTable('message_counts', (t) => {
      t.text('user_id').notNullable();
      // 'YYYY-MM-DD' (UTC): sorts and compares as text the same way in both databases.
      t.text('day').notNullable();
      t.integer('count').notNullable();
      t.primary(['user_id', 'day'], 'message_counts_pkey');
    }));

    // The primary key leads with (user_id, day): recounting one user's day is a range scan of it.
    add(builder().createTable('counted_messages', (t) => {
      t.text('user_id').notNullable();
      t.text('day').notNullable();
      t.text('message_id').notNullable();
      t.primary(['user_id', 'day', 'message_id'], 'counted_messages_pkey');
    }));
  }
}
