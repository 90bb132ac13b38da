import type { Command } from 'commander';
import { register } from '../../commands/register.js';
import { CliInputError, withRuntime } from './shared.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export function registerUserCommands(program: Command): void {
  const users = program.command('users').description('manage users');
  users
    .command('register <username>')
    .description('register a user; the password is read from standard input, never from the command line')
    .option('--auditor', 'give the user the auditor role')
    .action(async (username: string, opts: { auditor?: boolean }) => {
      const password = await readStdin();
      const result = await withRuntime((rt) => register(rt.commands, { username, password, role: opts.auditor ? 'auditor' : 'user' }));
      if (!result.ok) throw new CliInputError(`${result.error.code}: ${result.error.message}`);
      process.stdout.write(`${JSON.stringify({ userId: result.value.userId, role: result.value.role, position: String(result.value.position) })}\n`);
    });
}
