/**
 * Picks the session adapter the way the event store is picked: PostgreSQL when a database is
 * configured, else a SQLite file under the data directory (the embedded default).
 */
import path from 'node:path';
import type { SessionPolicy, SessionStore } from '../../gateways/ports/sessions.js';
import { PostgresSessionStore } from './postgres.js';
import { SqliteSessionStore } from './sqlite.js';

export interface SessionStoreChoice {
  databaseUrl: string | undefined;
  databaseSchema: string;
  dataDir: string;
  policy?: Partial<SessionPolicy>;
}

export async function openSessionStore(choice: SessionStoreChoice): Promise<SessionStore> {
  if (choice.databaseUrl) {
    return PostgresSessionStore.open({ connectionString: choice.databaseUrl, schema: choice.databaseSchema, policy: choice.policy });
  }
  return SqliteSessionStore.open({ file: path.join(choice.dataDir, 'sessions.sqlite'), policy: choice.policy });
}
