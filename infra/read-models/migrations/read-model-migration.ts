/**
 * What every read-model migration starts from: one knex schema builder for PostgreSQL (in the
 * deployment's schema) and SQLite, and a way to add what it builds statement by statement.
 */
import { Migration } from '@mikro-orm/migrations';
import type { Knex } from '@mikro-orm/knex';

export interface SchemaTools {
  knex: Knex;
  /** True on PostgreSQL, false on SQLite. */
  pg: boolean;
  /** The PostgreSQL schema; undefined on SQLite. */
  schema: string | undefined;
  builder(): Knex.SchemaBuilder;
  add(b: Knex.SchemaBuilder): void;
}

export abstract class ReadModelMigration extends Migration {
  protected schemaTools(): SchemaTools {
    const knex = this.getKnex();
    const pg = this.driver.getPlatform().getDefaultSchemaName() !== undefined;
    const schema = pg ? (this.config.get('schema') as string | undefined) : undefined;
    return {
      knex,
      pg,
      schema,
      builder: () => (schema ? knex.schema.withSchema(schema) : knex.schema),
      // toQuery() would join a table and its indexes with ';', which better-sqlite3 refuses.
      add: (b) => {
        for (const q of b.toSQL()) this.addSql(q.sql);
      },
    };
  }
}
