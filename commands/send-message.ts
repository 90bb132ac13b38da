import { chatDecider, findSentMessage, type ChatCommand, type ChatState } from '../domain/chat.js';
import { domainError } from '../domain/errors.js';
import { chatStreamId, userStreamId } from '../domain/events.js';
import { userDecider, type UserState } from '../domain/user.js';
import { fail, succeed, type CommandDeps, type CommandResult } from './deps.js';
import { handleCommand, loadState, type CommandBus } from './handle-command.js';
import { KeyErasedError } from './ports/keys.js';
import { messageIdFor } from './message-id.js';

export interface MessageAccepted {
  chatId: string;
  messageId: string;
  revision: number;
  position: bigint;
  /** True when this clientMessageId was sent before: the first message's result, nothing appended. */
  duplicate: boolean;
}

/**
 * Whether the chat's other participant has erased their account. A process whose cache follows the
 * log (every gateway) answers from the cached user state, which UserErased reaches like any event:
 * a read only on the first send to that user. A send decided just before the erasure lands may
 * still be stored (different streams, no shared revision); privacy.md says so.
 */
async function otherErased(bus: CommandBus, state: ChatState, senderId: string): Promise<boolean> {
  if (!state.started || !state.participants.includes(senderId)) return false; // the decider refuses it anyway
  const other = state.participants[0] === senderId ? state.participants[1] : state.participants[0];
  const streamId = userStreamId(other);
  const cached = bus.cacheFollowsLog ? bus.cache.get<UserState>(streamId) : undefined;
  const user = cached && cached.revision >= 0 ? cached.state : (await loadState(bus, streamId, userDecider)).state;
  return user.registered && user.erased === true;
}

export async function sendMessage(
  deps: CommandDeps,
  input: { senderId: string; chatId: string; body: string; clientMessageId: string },
): Promise<CommandResult<MessageAccepted>> {
  const messageId = messageIdFor(input.chatId, input.senderId, input.clientMessageId);
  // A send racing the sender's erasure: the store refuses to seal under a destroyed key (infra/keys/).
  const outcome = await handleCommand(deps.bus, {
    streamId: chatStreamId(input.chatId),
    decider: chatDecider,
    command: { type: 'SendMessage', chatId: input.chatId, messageId, senderId: input.senderId, clientMessageId: input.clientMessageId, body: input.body, at: deps.clock().toISOString() },
    // The message id doubles as the event id: a resend the chat no longer remembers meets the store's unique id.
    eventIds: () => messageId,
    withFacts: async (command: ChatCommand, state: ChatState): Promise<ChatCommand> =>
      command.type === 'SendMessage' ? { ...command, recipientErased: await otherErased(deps.bus, state, input.senderId) } : command,
  }).catch((err: unknown) => {
    if (err instanceof KeyErasedError) return { ok: false as const, error: domainError('USER_ERASED') };
    throw err;
  });
  if (!outcome.ok) return fail(outcome.error);
  const appended = outcome.appended[0];
  if (appended) return succeed({ chatId: input.chatId, messageId, revision: appended.revision, position: appended.position, duplicate: false });
  if (outcome.alreadyStored) return succeed({ chatId: input.chatId, messageId, ...outcome.alreadyStored, duplicate: true });
  const first = findSentMessage(outcome.state, input.senderId, input.clientMessageId);
  if (!first) return fail(domainError('CHAT_NOT_FOUND'));
  return succeed({ chatId: input.chatId, messageId: first.messageId, revision: first.revision, position: first.position, duplicate: true });
}
