/**
 * One WebSocket gateway process on its own, on the PostgreSQL store (gateways/ws/run.ts starts it):
 * what tests and the WebSocket benchmark spawn. Unlike `chat start --role gateway` it allows no
 * browser origin unless WS_ALLOWED_ORIGINS says so, and answers SIGUSR2 with its counters.
 */
import { keepFresh } from '../../commands/handle-command.js';
import { createLogger } from '../../infra/logger.js';
import { wsConfig } from '../ws/config.js';
import { ephemeralSettingsFrom, openPresenceBus } from './ws-wiring.js';
import { startWsGateway } from '../ws/server.js';
import { partsOf } from './roles.js';
import { openCommandSide, openSessions, openSharedView, type Config } from './wiring.js';

export async function runGatewayProcess(config: Config): Promise<void> {
  const logger = createLogger({ level: config.logLevel, name: 'ws-gateway' });
  if (config.eventStore.kind !== 'postgres') {
    logger.fatal('gateways/ws/run.ts needs DATABASE_URL (the PostgreSQL store): processes share the log through it');
    process.exit(2);
  }
  const rt = await openCommandSide(config, logger);
  // The API's session policy: the gateway judges idle and absolute expiry by the same timeouts.
  const sessions = await openSessions(config);
  const view = await openSharedView(config, logger);
  // With REDIS_URL, typing and presence cross processes through Redis; without, they stay in this one.
  const presence = openPresenceBus(config, logger);
  const gateway = await startWsGateway({
    store: rt.store, commands: rt.commands, sessions, lastMessages: view, config: wsConfig(config.ws), logger, presence,
    ephemeral: ephemeralSettingsFrom(config),
    ...(partsOf('gateway').commandCacheFollowsLog ? { observeLog: keepFresh(rt.commands.bus) } : {}),
  });

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
}
