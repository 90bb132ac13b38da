/**
 * The `chat` command line. Every subcommand validates its input and exits with code 2 and a
 * one-line message on bad input, without touching the store.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../../infra/config.js';
import { CliInputError } from './shared.js';
import { registerEventsCommands } from './events.js';
import { registerUserCommands } from './users.js';
import { registerStartCommand } from './start.js';
import { registerProjectionsCommands } from './projections.js';
import { registerActivityCommand } from './activity.js';
import { registerErrorsCommand } from './errors.js';
import { registerAuditCommands } from './audit.js';

export function buildProgram(): Command {
  const program = new Command('chat').description('Simple Chat, event-sourced: service and tools').exitOverride();
  registerStartCommand(program);
  registerUserCommands(program);
  registerEventsCommands(program);
  registerProjectionsCommands(program);
  registerActivityCommand(program);
  registerErrorsCommand(program);
  registerAuditCommands(program);
  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof ConfigError || err instanceof CliInputError) {
      process.stderr.write(`chat: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`chat: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

await main();
