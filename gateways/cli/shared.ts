/** Helpers shared by the CLI's subcommands. */
import { InvalidArgumentError } from 'commander';
import { loadConfig } from '../../infra/config.js';
import { createLogger } from '../../infra/logger.js';
import { openRuntime, type Runtime } from '../../infra/runtime.js';

export class CliInputError extends Error {}

export function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
}

export function parsePosition(value: string): bigint {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return BigInt(value);
}

/** Opens the configured runtime for one command and always closes it. Logs go to stderr so stdout stays data. */
export async function withRuntime<T>(task: (rt: Runtime) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const logger = createLogger({ level: process.env['LOG_LEVEL'] ?? 'warn', name: 'cli' }, process.stderr);
  const rt = await openRuntime(config, logger);
  try {
    return await task(rt);
  } finally {
    await rt.close();
  }
}

