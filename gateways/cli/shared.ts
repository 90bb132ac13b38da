/** Helpers shared by the CLI's subcommands. */
import { withCommandSide, type CommandSide, type ToolOptions } from '../service/tools.js';

/** What a command gets from the composition root: the event store, the key ring and the command bus. */
export type Runtime = CommandSide;

export class CliInputError extends Error {}

/** Opens the command side for one command and always closes it. Logs go to stderr so stdout stays data. */
export function withRuntime<T>(task: (rt: Runtime) => Promise<T>, opts: ToolOptions = {}): Promise<T> {
  return withCommandSide(task, opts);
}
