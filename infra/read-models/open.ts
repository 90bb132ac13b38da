/** Opens the read models the configuration names: PostgreSQL when DATABASE_URL is set, else SQLite in DATA_DIR. */
import path from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { openReadModelOrm, type ReadModelOrm } from './orm.js';

export function readModelTarget(config: Config) {
  return config.databaseUrl
    ? ({ kind: 'postgresql', connectionString: config.databaseUrl, schema: config.databaseSchema } as const)
    : ({ kind: 'sqlite', file: path.join(config.dataDir, 'read-models.sqlite') } as const);
}

export function openReadModels(config: Config, logger: Logger): Promise<ReadModelOrm> {
  return openReadModelOrm(readModelTarget(config), logger);
}
