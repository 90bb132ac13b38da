/**
 * Read receipts (projections/reads.ts): read positions with their unread counts, and the unread
 * messages they are counted from. Same conventions as 0001.
 */
import { Migration } from '@mikro-orm/migrations';
import type { Knex } from '@mikro-orm/knex';

export class Migration0003Reads extends Migration {
  override async up(): Promise<void> {
    const knex = this.getKnex();
    const pg = this.driver.getPlatform().getDefaultSchemaName() !== undefined;
    const schema = pg ? this.config.get('schema') : undefined;
    const builder = (): Knex.SchemaBuilder => (schema ? knex.schema.withSchema(schema) : knex.schema);
    const add = (b: Knex.SchemaBuilder): void => {
      for (const q of b.toSQL()) this.addSql(q.sql);
    };

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
