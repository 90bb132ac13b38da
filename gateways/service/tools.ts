/**
 * What the CLI's tools open, each for one command and always closed again: the command side, the
 * read side, or both, from the CLI's Config (tools log to stderr at warn; stdout is their data).
 */
import { existsSync } from 'node:fs';
import type { CommandResult } from '../../commands/deps.js';
import type { Erased } from '../../commands/erase-user.js';
import { scrubBodiesOf } from '../../infra/read-models/queries/erasure.js';
import { createLogger } from '../../infra/logger.js';
import type { Logger } from 'pino';
import { accountEraser } from './account-erasure.js';
import { ConfigError, toolConfig, type Config } from './config.js';
import { openCommandSide, openReadSide, openSessions, openSharedView, type CommandSide, type ReadModelOrm } from './wiring.js';

export type { CommandSide, ReadModelOrm };
// The runtime tables' queries (error log, dead letters) live with the read-model adapter.
export { LOG_LEVELS, queryErrors } from '../../infra/read-models/queries/errors.js';
export { listDeadLetters } from '../../infra/read-models/queries/dead-letters.js';

const toolLogger = (config: Config): Logger => createLogger({ level: config.logLevel, name: 'cli' }, process.stderr);

export interface ToolOptions {
  /** May this command make the embedded store in an empty DATA_DIR? Only one that writes a first event (register). */
  create?: boolean;
}

/**
 * The tool's Config. On the embedded default, a DATA_DIR without an event store is refused unless the
 * command creates one: a mistyped path would otherwise give an auditor an empty, successful answer
 * ("no activity") and leave a fresh store and key-encryption key behind.
 */
function configFor(opts: ToolOptions): Config {
  const config = toolConfig();
  if (config.eventStore.kind === 'embedded' && opts.create !== true && !existsSync(config.eventStore.file)) {
    throw new ConfigError('DATA_DIR', `holds no event store (${config.eventStore.file} does not exist): point it at the service's data directory`);
  }
  return config;
}

/** The command side (event store, keys, command bus) for one command. */
export async function withCommandSide<T>(task: (side: CommandSide) => Promise<T>, opts: ToolOptions = {}): Promise<T> {
  const config = configFor(opts);
  const side = await openCommandSide(config, toolLogger(config));
  try {
    return await task(side);
  } finally {
    await side.close();
  }
}

/** Only the read models (no event store) for one command. */
export async function withReadSide<T>(task: (orm: ReadModelOrm, logger: Logger) => Promise<T>): Promise<T> {
  const config = configFor({});
  const logger = toolLogger(config);
  const orm = await openReadSide(config, logger);
  try {
    return await task(orm, logger);
  } finally {
    await orm.close();
  }
}

/** The event store (through the command side) and the read models, for one command. */
export function withBothSides<T>(task: (side: CommandSide, orm: ReadModelOrm) => Promise<T>): Promise<T> {
  return withCommandSide(async (side) => {
    const orm = await openReadSide(side.config, side.logger);
    try {
      return await task(side, orm);
    } finally {
      await orm.close();
    }
  });
}

/**
 * `chat users erase`: erasure as the API does it (account-erasure.ts), with the sessions, the read
 * models and the shared view opened for it. Without Redis the view lives in the service's memory;
 * its projection forgets the user's chats when it reads UserErased.
 */
export async function eraseAccountByOperator(side: CommandSide, username: string): Promise<CommandResult<Erased>> {
  const sessions = await openSessions(side.config);
  const orm = await openReadSide(side.config, side.logger);
  const view = await openSharedView(side.config, side.logger);
  try {
    const erase = accountEraser({ commands: side.commands, keys: side.keys, sessions, scrubReadModels: (id, erasedAt) => scrubBodiesOf(orm, id, erasedAt), view, logger: side.logger });
    return await erase({ username, by: 'operator' });
  } finally {
    await view?.close();
    await orm.close();
    await sessions.close();
  }
}
