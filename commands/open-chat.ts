import { chatDecider } from '../domain/chat.js';
import { chatStreamId, userStreamId } from '../domain/events.js';
import { userDecider } from '../domain/user.js';
import { fail, succeed, type CommandDeps, type CommandResult } from './deps.js';
import { handleCommand, loadState } from './handle-command.js';
import { otherParticipantErased } from './participant-erased.js';

export interface OpenedChat {
  chatId: string;
  participants: [string, string];
  /** The other participant erased their account: the chat opens, but takes no new messages (PARTICIPANT_ERASED). */
  otherErased: boolean;
}

/** Records that a user opened a chat (an activity-log entry); only a participant may. */
export async function openChat(deps: CommandDeps, input: { userId: string; chatId: string }): Promise<CommandResult<OpenedChat>> {
  const { state: chat } = await loadState(deps.bus, chatStreamId(input.chatId), chatDecider);
  const outcome = await handleCommand(deps.bus, {
    streamId: userStreamId(input.userId),
    decider: userDecider,
    command: {
      type: 'RecordChatOpened', userId: input.userId, chatId: input.chatId,
      chatParticipants: chat.started ? chat.participants : null, at: deps.clock().toISOString(),
    },
    eventIds: () => deps.newId(),
  });
  if (!outcome.ok) return fail(outcome.error);
  if (!chat.started) throw new Error('unreachable: an unstarted chat was opened');
  return succeed({ chatId: input.chatId, participants: chat.participants, otherErased: await otherParticipantErased(deps.bus, chat.participants, input.userId) });
}
