/**
 * Erasing an account end to end (docs/privacy.md), shared by `DELETE /api/me` and `chat users erase`:
 * the command (destroy the data key, record UserErased), then what the log does not reach by itself:
 * the user's sessions end (which closes their sockets), their bodies leave the live read models and
 * the last-100 view at once. Each later step is best effort and logged: the key is already gone, so
 * what a failed step leaves behind is unreadable in every replay, and the projections blank it anyway
 * when they apply UserErased.
 */
import { eraseUser, type Erased } from '../../commands/erase-user.js';
import type { CommandDeps, CommandResult } from '../../commands/deps.js';
import type { KeyRing } from '../../infra/keys/ring.js';
import type { Logger } from 'pino';

export interface AccountErasureDeps {
  commands: CommandDeps;
  keys: KeyRing;
  sessions: { revokeAllForUser(userId: string): Promise<number> } | null;
  /** The live read models' direct pass (infra/read-models/queries/erasure.ts). */
  /** Blanks the user's bodies in the live read models and, given the UserErased's time, marks the user erased there. */
  scrubReadModels: ((userId: string, erasedAt: string | null) => Promise<void>) | null;
  /** The last-100 view forgets the user's chats (Redis or in-memory adapter). */
  view: { forgetChatsOf(userId: string): Promise<void> } | null;
  logger: Logger;
}

export type EraseAccount = (input: { username: string; by: 'self' | 'operator'; password?: string }) => Promise<CommandResult<Erased>>;

export function accountEraser(deps: AccountErasureDeps): EraseAccount {
  const step = async (name: string, userId: string, run: () => Promise<unknown>): Promise<void> => {
    try {
      await run();
    } catch (err) {
      deps.logger.warn({ userId, step: name, err: err instanceof Error ? err.message : String(err) }, 'erasure: a follow-up step failed; the key is destroyed, the projections finish it');
    }
  };
  return async (input) => {
    const result = await eraseUser({ ...deps.commands, keys: deps.keys }, input);
    if (!result.ok) return result;
    const { userId } = result.value;
    const sessions = deps.sessions;
    const scrub = deps.scrubReadModels;
    const view = deps.view;
    if (sessions) await step('sessions', userId, () => sessions.revokeAllForUser(userId));
    if (scrub) await step('read models', userId, () => scrub(userId, result.value.at));
    // The view's projection forgets them again when it reads UserErased, after any body it opened before the key went.
    if (view) await step('last-messages view', userId, () => view.forgetChatsOf(userId));
    deps.logger.info({ userId, by: input.by, erasedNow: result.value.erasedNow }, 'account erased');
    return result;
  };
}
