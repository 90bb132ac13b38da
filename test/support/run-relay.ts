/**
 * A relay process for fault tests: started with `node --import tsx test/support/run-relay.ts`,
 * configured like production through the environment (DATABASE_URL, DATABASE_SCHEMA, AMQP_URL,
 * AMQP_PREFIX, LOG_LEVEL). Logs go to stderr. SIGTERM stops it gracefully; tests also SIGKILL it.
 */
import pino from 'pino';
import { startRelay } from '../../infra/broker/processes.js';
import { loadConfig } from '../../infra/config.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { createLogger } from '../../infra/logger.js';
import { exitOnSigterm } from './exit-on-sigterm.js';

const config = loadConfig();
const logger = createLogger({ level: config.logLevel, name: 'relay' }, pino.destination({ fd: 2, sync: true }));
if (!config.databaseUrl) throw new Error('DATABASE_URL is required');

const store = await PostgresEventStore.open({ connectionString: config.databaseUrl, schema: config.databaseSchema, logger });
const running = startRelay(config, store, logger);
exitOnSigterm(() => running.stop(), () => store.close());
