/**
 * Wires the adapters a process needs from its Config: the event store, the command bus and the
 * password hasher. Gateways and the CLI start from here, so every process is wired the same way.
 */
import { randomUUID } from 'node:crypto';
import { createCommandBus } from '../commands/handle-command.js';
import type { CommandDeps } from '../commands/deps.js';
import type { Config } from './config.js';
import { openEventStore } from './event-store/open.js';
import type { EventStore } from './event-store/port.js';
import { openKeyRing } from './keys/open.js';
import type { KeyRing } from './keys/ring.js';
import { SealedEventStore } from './keys/sealed-store.js';
import type { Logger } from './logger.js';
import { createArgon2Hasher } from './password-hasher.js';

export interface Runtime {
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

export async function openRuntime(config: Config, logger: Logger): Promise<Runtime> {
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
  const commands: CommandDeps = {
    bus: createCommandBus(store, { maxRetries: config.commandMaxRetries, cacheWeight: config.commandCacheItems }),
    hasher: createArgon2Hasher(config.argon2),
    clock: () => new Date(),
    newId: randomUUID,
    messageEditWindowMs: config.messageEditWindowSeconds * 1000,
  };
  return { config, logger, store, rawStore, keys, commands, close: () => store.close() };
}
