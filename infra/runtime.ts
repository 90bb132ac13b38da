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
import type { Logger } from './logger.js';
import { createArgon2Hasher } from './password-hasher.js';

export interface Runtime {
  config: Config;
  logger: Logger;
  store: EventStore;
  commands: CommandDeps;
  close(): Promise<void>;
}

export async function openRuntime(config: Config, logger: Logger): Promise<Runtime> {
  const store = await openEventStore(config.eventStore, logger);
  logger.info({ eventStore: store.kind }, 'event store open');
  const commands: CommandDeps = {
    bus: createCommandBus(store, { maxRetries: config.commandMaxRetries, cacheWeight: config.commandCacheItems }),
    hasher: createArgon2Hasher(config.argon2),
    clock: () => new Date(),
    newId: randomUUID,
  };
  return { config, logger, store, commands, close: () => store.close() };
}
