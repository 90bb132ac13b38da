/**
 * Erasure (crypto-shredding, docs/privacy.md): destroy the user's data key, then record UserErased.
 * The key goes first: once it is gone every body and the password hash the user ever had sealed are
 * unreadable, whatever happens next; should the process die before the event is written, erasing again
 * finishes the job (both steps are idempotent). The event holds no personal data and keeps the stream,
 * so the username stays reserved.
 */
import { domainError } from '../domain/errors.js';
import { userStreamId } from '../domain/events.js';
import { PASSWORD_MAX_BYTES } from '../domain/password-policy.js';
import { userDecider } from '../domain/user.js';
import { isValidUsername, normalizeUsername } from '../domain/username.js';
import { fail, succeed, type CommandDeps, type CommandResult } from './deps.js';
import { handleCommand, loadState } from './handle-command.js';

/** What erasure needs of the key store (infra/keys/ring.ts). */
export interface DataKeys {
  destroy(userId: string): Promise<boolean>;
}

export interface Erased {
  userId: string;
  /** False when the user had been erased before (nothing left to destroy). */
  erasedNow: boolean;
  /** When the UserErased this call appended says the erasure happened; null when it appended none. */
  at: string | null;
}

export async function eraseUser(
  deps: CommandDeps & { keys: DataKeys },
  input: { username: string; by: 'self' | 'operator'; /** Required when the user erases themselves. */ password?: string },
): Promise<CommandResult<Erased>> {
  const userId = normalizeUsername(input.username);
  if (!isValidUsername(userId)) return fail(domainError('USER_NOT_FOUND'));
  if (input.password !== undefined && Buffer.byteLength(input.password, 'utf8') > PASSWORD_MAX_BYTES) return fail(domainError('PASSWORD_TOO_LONG'));
  const { state } = await loadState(deps.bus, userStreamId(userId), userDecider);
  if (!state.registered) return fail(domainError('USER_NOT_FOUND'));
  if (input.by === 'self') {
    // The password re-entered: a stolen session cookie alone must not be able to erase an account.
    if (state.erased || input.password === undefined || !(await deps.hasher.verify(state.passwordHash, input.password))) {
      return fail(domainError('INVALID_CREDENTIALS'));
    }
  }
  const destroyed = await deps.keys.destroy(userId);
  const outcome = await handleCommand(deps.bus, {
    streamId: userStreamId(userId),
    decider: userDecider,
    command: { type: 'Erase', userId, by: input.by, at: deps.clock().toISOString() },
    eventIds: () => deps.newId(),
  });
  if (!outcome.ok) return fail(outcome.error);
  const erased = outcome.appended.find((a) => a.event.type === 'UserErased');
  return succeed({ userId, erasedNow: destroyed || outcome.appended.length > 0, at: erased?.event.type === 'UserErased' ? erased.event.data.at : null });
}
