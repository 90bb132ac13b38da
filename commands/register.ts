import { domainError } from '../domain/errors.js';
import type { Role } from '../domain/events.js';
import { userStreamId } from '../domain/events.js';
import { checkPassword } from '../domain/password-policy.js';
import { userDecider } from '../domain/user.js';
import { isValidNewUsername, normalizeUsername } from '../domain/username.js';
import { fail, succeed, type CommandDeps, type CommandResult } from './deps.js';
import { handleCommand } from './handle-command.js';

export interface Registered {
  userId: string;
  username: string;
  role: Role;
  position: bigint;
}

export async function register(deps: CommandDeps, input: { username: string; password: string; role?: Role }): Promise<CommandResult<Registered>> {
  const username = normalizeUsername(input.username);
  // Validate before hashing: a bad request must cost nothing.
  if (!isValidNewUsername(username)) return fail(domainError('USERNAME_INVALID'));
  const passwordProblem = checkPassword(input.password);
  if (passwordProblem) return fail(passwordProblem);
  const passwordHash = await deps.hasher.hash(input.password);
  const role = input.role ?? 'user';
  const outcome = await handleCommand(deps.bus, {
    streamId: userStreamId(username),
    decider: userDecider,
    command: { type: 'Register', userId: username, username, passwordHash, role, at: deps.clock().toISOString() },
    eventIds: () => deps.newId(),
  });
  if (!outcome.ok) return fail(outcome.error);
  const appended = outcome.appended[0];
  if (!appended) return fail(domainError('USERNAME_TAKEN'));
  return succeed({ userId: username, username, role, position: appended.position });
}
