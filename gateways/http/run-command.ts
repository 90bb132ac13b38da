/**
 * Runs a command for a route: counts it in commands_total by outcome, and turns a domain error into
 * the ApiError the error plugin renders with the registry's status.
 */
import type { CommandResult } from '../../commands/deps.js';
import { fromDomain } from './errors.js';
import type { HttpMetrics } from './metrics.js';

export async function runCommand<T>(metrics: HttpMetrics, name: string, run: () => Promise<CommandResult<T>>): Promise<T> {
  let result: CommandResult<T>;
  try {
    result = await run();
  } catch (err) {
    metrics.countCommand(name, 'error');
    throw err;
  }
  if (!result.ok) {
    metrics.countCommand(name, result.error.code);
    throw fromDomain(result.error);
  }
  metrics.countCommand(name, 'ok');
  return result.value;
}
