import type { Command } from 'commander';
import { register } from '../../commands/register.js';
import { CliInputError, withRuntime } from './shared.js';
import { eraseAccountByOperator } from '../service/tools.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  let text: string;
  try {
    // fatal: a byte that is not UTF-8 would otherwise become U+FFFD, a password other than the one typed.
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new CliInputError('the password on standard input is not valid UTF-8');
  }
  return text.replace(/\r?\n$/, '');
}

export function registerUserCommands(program: Command): void {
  const users = program.command('users').description('manage users');
  users
    .command('register <username>')
    .description('register a user; the password is read from standard input, never from the command line')
    .option('--auditor', 'give the user the auditor role')
    .action(async (username: string, opts: { auditor?: boolean }) => {
      const password = await readStdin();
      const result = await withRuntime((rt) => register(rt.commands, { username, password, role: opts.auditor ? 'auditor' : 'user' }), { create: true });
      if (!result.ok) throw new CliInputError(`${result.error.code}: ${result.error.message}`);
      process.stdout.write(`${JSON.stringify({ userId: result.value.userId, role: result.value.role, position: String(result.value.position) })}\n`);
    });
  users
    .command('erase <username>')
    .description('erase a user (docs/privacy.md): destroys their data key, so their message bodies and password hash are unrecoverable; '
      + 'ends their sessions; the username stays reserved')
    .action(async (username: string) => {
      const result = await withRuntime((rt) => eraseAccountByOperator(rt, username));
      if (!result.ok) throw new CliInputError(`${result.error.code}: ${result.error.message}`);
      process.stdout.write(`${JSON.stringify({ userId: result.value.userId, erased: true, erasedNow: result.value.erasedNow })}\n`);
    });
  users
    .command('rewrap-keys')
    .description('KEK rotation (docs/privacy.md): re-wraps every data key under DATA_KEY_ENCRYPTION_KEY; '
      + 'keys wrapped by DATA_KEY_ENCRYPTION_KEY_PREVIOUS are read with it')
    .action(async () => {
      const result = await withRuntime((rt) => rt.keys.rotate());
      process.stdout.write(`${JSON.stringify({ rewrapped: result.rewrapped, unreadable: result.unreadable.length })}\n`);
      if (result.unreadable.length > 0) throw new CliInputError(`${result.unreadable.length} keys are wrapped by a KEK that is neither DATA_KEY_ENCRYPTION_KEY nor DATA_KEY_ENCRYPTION_KEY_PREVIOUS`);
    });
}
