/**
 * One WebSocket gateway process on the PostgreSQL store, configured from the environment like
 * production (DATABASE_URL, DATABASE_SCHEMA, REDIS_URL, REDIS_KEY_PREFIX, LOG_LEVEL and the WS_*
 * variables of config.ts). Tests and the benchmark spawn it with `node --import tsx gateways/ws/run.ts`;
 * it logs JSON lines to stdout, among them `ws gateway listening` with the port. SIGTERM or SIGINT
 * closes it gracefully.
 */
import { loadConfig } from '../../infra/config.js';
import { RedisLastMessagesView } from '../../infra/last-messages/redis.js';
import { createLogger } from '../../infra/logger.js';
import { openRuntime } from '../../infra/runtime.js';
import { openSessionStore } from '../../infra/sessions/open.js';
import { sessionPolicyFrom } from '../http/from-config.js';
import { wsConfigFromEnv } from './config.js';
import { ephemeralSettingsFrom, openPresenceBus } from './ephemeral.js';
import { startWsGateway } from './server.js';

const config = loadConfig();
const logger = createLogger({ level: config.logLevel, name: 'ws-gateway' });
if (config.eventStore.kind !== 'postgres') {
  logger.fatal('gateways/ws/run.ts needs DATABASE_URL (the PostgreSQL store): processes share the log through it');
  process.exit(2);
}
const wsConfig = wsConfigFromEnv();
const rt = await openRuntime(config, logger);
// The API's session policy: the gateway judges idle and absolute expiry by the same timeouts.
const sessions = await openSessionStore({ databaseUrl: config.databaseUrl, databaseSchema: config.databaseSchema, dataDir: config.dataDir, policy: sessionPolicyFrom(config) });
const view = RedisLastMessagesView.fromConfig(config, logger);
// With REDIS_URL, typing and presence cross processes through Redis; without, they stay in this one.
const presence = openPresenceBus(config, logger);
const gateway = await startWsGateway({ store: rt.store, commands: rt.commands, sessions, lastMessages: view, config: wsConfig, logger, presence, ephemeral: ephemeralSettingsFrom(config) });

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal, stats: gateway.stats() }, 'ws gateway stopping');
  void (async () => {
    await gateway.close();
    await view?.close();
    await sessions.close();
    await rt.close();
    process.exit(0);
  })();
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
// The benchmark and tests ask for counters without stopping the process.
process.on('SIGUSR2', () => {
  // The adapter's own counters: rt.store is the sealing layer over it (infra/keys/sealed-store.ts).
  const appendBatches = 'appendBatchStats' in rt.rawStore ? rt.rawStore.appendBatchStats : undefined;
  const logReads = 'subscriptionCounts' in rt.rawStore ? rt.rawStore.subscriptionCounts : undefined;
  logger.info({ stats: gateway.stats(), appendBatches, logReads }, 'ws gateway stats');
});
