/**
 * The `chat` command line. Every subcommand validates its input and exits with code 2 and a
 * one-line message on bad input, without touching the store.
 *
 * Subcommand groups load lazily: `chat start` imports only what the service needs, not the audit,
 * rebuild and export tools as well (start-up time, issue 13). Help and unknown commands load them all.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../service/config.js';
import { CliInputError } from './shared.js';

type Registrar = (program: Command) => void;

const GROUPS: Record<string, () => Promise<Registrar>> = {
  start: async () => (await import('./start.js')).registerStartCommand,
  users: async () => (await import('./users.js')).registerUserCommands,
  events: async () => (await import('./events.js')).registerEventsCommands,
  projections: async () => (await import('./projections.js')).registerProjectionsCommands,
  activity: async () => (await import('./activity.js')).registerActivityCommand,
  errors: async () => (await import('./errors.js')).registerErrorsCommand,
  audit: async () => (await import('./audit.js')).registerAuditCommands,
};

/** The program with the named group only, or with every group (for help, or a name it does not know). */
export async function buildProgram(group?: string): Promise<Command> {
  const program = new Command('chat').description('Simple Chat, event-sourced: service and tools').exitOverride();
  const loaders = group !== undefined && GROUPS[group] ? [GROUPS[group]] : Object.values(GROUPS);
  for (const register of await Promise.all(loaders.map((load) => load()))) register(program);
  return program;
}

async function main(): Promise<void> {
  try {
    await (await buildProgram(process.argv[2])).parseAsync(process.argv);
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
