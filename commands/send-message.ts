import { chatDecider, findSentMessage, type ChatCommand, type ChatState } from '../domain/chat.js';
import { domainError } from '../domain/errors.js';
import { chatStreamId } from '../domain/events.js';
import { fail, succeed, type CommandDeps, type CommandResult } from './deps.js';
import { handleCommand } from './handle-command.js';
import { otherParticipantErased } from './participant-erased.js';
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
    // Only for a participant of a started chat: the decider refuses anyone else before it looks.
    withFacts: async (command: ChatCommand, state: ChatState): Promise<ChatCommand> =>
      command.type === 'SendMessage' && state.started && state.participants.includes(input.senderId)
        ? { ...command, recipientErased: await otherParticipantErased(deps.bus, state.participants, input.senderId) }
        : command,
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
