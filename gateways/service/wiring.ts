/**
 * The parts every process is built from, each opened from the Config: the command side (event
 * store, key ring, command bus, password hasher), the read side (the SQL read models), the sessions,
 * the last-messages view. `chat start` (start-service.ts), the CLI's tools (tools.ts), the lone
 * gateway process (ws-process.ts) and the tests open them here, so every process is wired the same
 * way. Only gateways/service/ imports infra/: the other gateways receive what is opened here.
 */
import { randomUUID } from 'node:crypto';
import type { CommandDeps } from '../../commands/deps.js';
import { createCommandBus } from '../../commands/handle-command.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import type { Config } from './config.js';
import { openEventStore } from '../../infra/event-store/open.js';
import { openToOthers } from '../../infra/data-dir.js';
import { openKeyRing } from '../../infra/keys/open.js';
import type { KeyRing } from '../../infra/keys/ring.js';
import { SealedEventStore } from '../../infra/keys/sealed-store.js';
import type { RedisLastMessagesView } from '../../infra/last-messages/redis.js';
import type { Logger } from 'pino';
import type { PasswordHasher } from '../../commands/ports/password-hasher.js';
import { createArgon2Hasher } from '../../infra/password-hasher.js';
import type { ReadModelOrm } from '../../infra/read-models/orm.js';
import type { SessionStore } from '../ports/sessions.js';
import { sessionPolicyFrom } from './from-config.js';

export { ConfigError, loadConfig, type Config } from './config.js';
export type { ReadModelOrm };

export interface CommandSide {
  config: Config;
  logger: Logger;
  /** The log as every reader but the relay sees it: personal fields sealed on append, opened on read (infra/keys/). */
  store: EventStore;
  /** The log as stored, personal fields sealed: what the relay publishes to RabbitMQ. */
  rawStore: EventStore;
  /** Per-user data keys (erasure destroys one). */
  keys: KeyRing;
  commands: CommandDeps;
  close(): Promise<void>;
}

/** The command handlers' dependencies over a store: the one place the bus, clock and ids are chosen. */
export function commandDepsFor(
  store: EventStore,
  settings: Pick<Config, 'commandMaxRetries' | 'commandCacheItems' | 'messageEditWindowSeconds'>,
  hasher: PasswordHasher,
): CommandDeps {
  return {
    bus: createCommandBus(store, { maxRetries: settings.commandMaxRetries, cacheWeight: settings.commandCacheItems }),
    hasher,
    clock: () => new Date(),
    newId: randomUUID,
    messageEditWindowMs: settings.messageEditWindowSeconds * 1000,
  };
}

export async function openCommandSide(config: Config, logger: Logger): Promise<CommandSide> {
  const rawStore = await openEventStore(config.eventStore, logger);
  let keys: KeyRing;
  try {
    keys = await openKeyRing(config, logger);
  } catch (err) {
    await rawStore.close();
    throw err;
  }
  const store = new SealedEventStore(rawStore, keys);
  logger.info({ eventStore: store.kind, keyStore: keys.store.kind }, 'event store open');
  if (keys.store.kind === 'sqlite' && openToOthers(config.dataDir)) {
    logger.warn({ dataDir: config.dataDir }, 'DATA_DIR can be read by other users of this machine, and holds the read models (message bodies), sessions and keys: chmod 700 it');
  }
  const commands = commandDepsFor(store, config, createArgon2Hasher(config.argon2));
  return { config, logger, store, rawStore, keys, commands, close: () => store.close() };
}

// The adapters below load when first opened: a CLI tool pays only for what it opens.

/** The SQL read models: PostgreSQL when DATABASE_URL is set, else SQLite in DATA_DIR. */
export async function openReadSide(config: Config, logger: Logger): Promise<ReadModelOrm> {
  const { openReadModels } = await import('../../infra/read-models/open.js');
  return openReadModels(config, logger);
}

/** The session store, judging idle and absolute expiry by the API's policy (SESSION_* settings). */
export async function openSessions(config: Config): Promise<SessionStore> {
  const { openSessionStore } = await import('../../infra/sessions/open.js');
  return openSessionStore({ databaseUrl: config.databaseUrl, databaseSchema: config.databaseSchema, dataDir: config.dataDir, policy: sessionPolicyFrom(config) });
}

/** The last-messages view shared through Redis; null without REDIS_URL (each process then keeps its own, or none). */
export async function openSharedView(config: Config, logger: Logger): Promise<RedisLastMessagesView | null> {
  if (config.redisUrl === undefined) return null;
  const { RedisLastMessagesView } = await import('../../infra/last-messages/redis.js');
  return RedisLastMessagesView.fromConfig(config, logger);
}
