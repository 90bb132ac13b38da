import { domainError } from '../domain/errors.js';
import type { Role } from '../domain/events.js';
import { userStreamId } from '../domain/events.js';
import { PASSWORD_MAX_BYTES } from '../domain/password-policy.js';
import { userDecider } from '../domain/user.js';
import { isValidUsername, normalizeUsername } from '../domain/username.js';
import { fail, succeed, type CommandDeps, type CommandResult } from './deps.js';
import { handleCommand, loadState } from './handle-command.js';

export interface LoggedIn {
  userId: string;
  username: string;
  role: Role;
}

/**
 * Unknown user and wrong password give the same error after the same work (a dummy verify), so
 * neither the answer nor its timing tells whether an account exists.
 */
export async function login(deps: CommandDeps, input: { username: string; password: string }): Promise<CommandResult<LoggedIn>> {
  const invalid = fail<LoggedIn>(domainError('INVALID_CREDENTIALS'));
  const username = normalizeUsername(input.username);
  if (Buffer.byteLength(input.password, 'utf8') > PASSWORD_MAX_BYTES) return fail(domainError('PASSWORD_TOO_LONG'));
  const { state } = isValidUsername(username)
    ? await loadState(deps.bus, userStreamId(username), userDecider)
    : { state: userDecider.initialState };
  // An erased account has no hash left: the same answer, after the same work, as an unknown user.
  if (!state.registered || state.erased) {
    await deps.hasher.verifyDummy(input.password);
    return invalid;
  }
  if (!(await deps.hasher.verify(state.passwordHash, input.password))) return invalid;
  const outcome = await handleCommand(deps.bus, {
    streamId: userStreamId(username),
    decider: userDecider,
    command: { type: 'RecordLogin', userId: username, at: deps.clock().toISOString() },
    eventIds: () => deps.newId(),
  });
  if (!outcome.ok) return fail(outcome.error);
  return succeed({ userId: state.userId, username: state.username, role: state.role });
}
