/**
 * A projector process for fault tests: the broker consumer feeding the SQL projections, started with
 * `node --import tsx test/support/run-projector.ts` and configured through the environment like
 * production (DATABASE_URL, DATABASE_SCHEMA, AMQP_URL, AMQP_PREFIX, PROJECTOR_*, LOG_LEVEL). Logs go
 * to stderr. SIGTERM stops it gracefully; tests also SIGKILL it.
 */
import pino from 'pino';
import { startProjectorConsumer } from '../../infra/broker/processes.js';
import { loadConfig } from '../../infra/config.js';
import { createLogger } from '../../infra/logger.js';
import { openReadModels } from '../../infra/read-models/open.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { exitOnSigterm } from './exit-on-sigterm.js';

const config = loadConfig();
const logger = createLogger({ level: config.logLevel, name: 'projector' }, pino.destination({ fd: 2, sync: true }));
if (!config.databaseUrl) throw new Error('DATABASE_URL is required');

const orm = await openReadModels(config, logger);
const projector = createSqlProjector({ db: orm.db, projections: SQL_PROJECTIONS, logger });
const running = startProjectorConsumer(config, projector, logger);
exitOnSigterm(() => running.stop(), () => orm.close());
