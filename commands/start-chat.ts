import { chatDecider } from '../domain/chat.js';
import { chatIdFor } from '../domain/chat-id.js';
import { domainError } from '../domain/errors.js';
import { chatStreamId, userStreamId } from '../domain/events.js';
import { isErased, userDecider } from '../domain/user.js';
import { isValidUsername, normalizeUsername } from '../domain/username.js';
import { fail, succeed, type CommandDeps, type CommandResult } from './deps.js';
import { handleCommand, loadState } from './handle-command.js';

export interface ChatRef {
  chatId: string;
  participants: [string, string];
  /** 'created' by this call, or 'existing' when the pair already had its chat. */
  status: 'created' | 'existing';
}

/**
 * The chat id is derived from the pair, so two concurrent starts race on the same stream and the
 * store's no_stream check lets exactly one create it; the loser's retry finds it and returns it.
 */
export async function startChat(deps: CommandDeps, input: { initiatorId: string; otherUsername: string }): Promise<CommandResult<ChatRef>> {
  const otherId = normalizeUsername(input.otherUsername);
  // No user can have an invalid name, and such a name may hold what no store can (U+0000): nothing to read.
  if (!isValidUsername(otherId)) return fail(domainError('USER_NOT_FOUND'));
  const chatId = chatIdFor(input.initiatorId, otherId);
  // Users are never deleted, so reading their existence before the chat's append cannot go stale.
  const [initiator, other] = await Promise.all([
    loadState(deps.bus, userStreamId(input.initiatorId), userDecider),
    loadState(deps.bus, userStreamId(otherId), userDecider),
  ]);
  const outcome = await handleCommand(deps.bus, {
    streamId: chatStreamId(chatId),
    decider: chatDecider,
    command: {
      type: 'StartChat', chatId, initiatorId: input.initiatorId, otherId,
      initiatorExists: initiator.state.registered, otherExists: other.state.registered,
      otherErased: isErased(other.state), at: deps.clock().toISOString(),
    },
    eventIds: () => deps.newId(),
  });
  if (!outcome.ok) return fail(outcome.error);
  if (!outcome.state.started) throw new Error(`chat ${chatId} not started after a successful StartChat`);
  return succeed({ chatId, participants: outcome.state.participants, status: outcome.appended.length > 0 ? 'created' : 'existing' });
}
