/**
 * The users projection marks erased accounts (projections/users.ts, version 2), so the user search
 * leaves them out. Rows written before carry no mark; the projection's version bump asks for a rebuild.
 * Same conventions as 0001.
 */
import { ReadModelMigration } from './read-model-migration.js';

export class Migration0007UsersErased extends ReadModelMigration {
  override async up(): Promise<void> {
    const { builder, add } = this.schemaTools();
    add(builder().alterTable('users', (t) => {
      t.timestamp('erased_at', { useTz: true }).nullable();
    }));
  }
}
