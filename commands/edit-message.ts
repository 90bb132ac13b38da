import { chatDecider } from '../domain/chat.js';
import { domainError } from '../domain/errors.js';
import { chatStreamId } from '../domain/events.js';
import type { ChatCommand, ChatState } from '../domain/chat.js';
import { DEFAULT_EDIT_WINDOW_MS, findEdit, needsFacts, type MessageFacts } from '../domain/message-changes.js';
import { KeyErasedError } from './ports/keys.js';
import { deleteIdFor, editIdFor } from './change-id.js';
import { fail, succeed, type CommandDeps, type CommandResult } from './deps.js';
import { handleCommand, type CommandBus } from './handle-command.js';
import { loadMessageFacts } from './message-facts.js';

export interface MessageChanged {
  chatId: string;
  messageId: string;
  /** Revision and position of the MessageEdited / MessageDeleted event. */
  revision: number;
  position: bigint;
  /** True when this client id did it before: the first result, nothing appended. */
  duplicate: boolean;
}

/** A change racing the sender's erasure: the store refuses to seal under a destroyed key (infra/keys/). */
const erasedAsValue = (err: unknown): { ok: false; error: ReturnType<typeof domainError> } => {
  if (err instanceof KeyErasedError) return { ok: false, error: domainError('USER_ERASED') };
  throw err;
};

/**
 * The facts hook of edits and deletes: a message the state forgot is read from the log. Remembers what
 * it loaded last, for a delete's retry answered from those facts.
 */
function olderMessageFacts(bus: CommandBus, chatId: string, messageId: string) {
  const loaded: { facts?: MessageFacts | null } = {};
  const withFacts = async (command: ChatCommand, state: ChatState, revision: number): Promise<ChatCommand> => {
    if (!state.started || !needsFacts(state, messageId)) return command;
    loaded.facts = await loadMessageFacts(bus.store, chatStreamId(chatId), messageId, revision);
    return { ...command, target: loaded.facts } as ChatCommand;
  };
  return { withFacts, loaded };
}

export async function editMessage(
  deps: CommandDeps,
  input: { editorId: string; chatId: string; messageId: string; clientEditId: string; body: string },
): Promise<CommandResult<MessageChanged>> {
  const { chatId, messageId, clientEditId } = input;
  const outcome = await handleCommand(deps.bus, {
    streamId: chatStreamId(chatId),
    decider: chatDecider,
    command: {
      type: 'EditMessage', chatId, messageId, editorId: input.editorId, clientEditId, body: input.body,
      at: deps.clock().toISOString(), editWindowMs: deps.messageEditWindowMs ?? DEFAULT_EDIT_WINDOW_MS,
    },
    eventIds: () => editIdFor(chatId, messageId, clientEditId),
    withFacts: olderMessageFacts(deps.bus, chatId, messageId).withFacts,
  }).catch(erasedAsValue);
  if (!outcome.ok) return fail(outcome.error);
  const appended = outcome.appended[0];
  if (appended) return succeed({ chatId, messageId, revision: appended.revision, position: appended.position, duplicate: false });
  if (outcome.alreadyStored) return succeed({ chatId, messageId, ...outcome.alreadyStored, duplicate: true });
  const first = outcome.state.started ? findEdit(outcome.state, messageId, clientEditId) : undefined;
  if (!first) return fail(domainError('MESSAGE_NOT_FOUND'));
  return succeed({ chatId, messageId, revision: first.revision, position: first.position, duplicate: true });
}

export async function deleteMessage(
  deps: CommandDeps,
  input: { deleterId: string; chatId: string; messageId: string; clientDeleteId: string },
): Promise<CommandResult<MessageChanged>> {
  const { chatId, messageId, clientDeleteId } = input;
  const older = olderMessageFacts(deps.bus, chatId, messageId);
  const outcome = await handleCommand(deps.bus, {
    streamId: chatStreamId(chatId),
    decider: chatDecider,
    command: { type: 'DeleteMessage', chatId, messageId, deleterId: input.deleterId, clientDeleteId, at: deps.clock().toISOString() },
    eventIds: () => deleteIdFor(chatId, messageId),
    withFacts: older.withFacts,
  }).catch(erasedAsValue);
  if (!outcome.ok) return fail(outcome.error);
  const appended = outcome.appended[0];
  if (appended) return succeed({ chatId, messageId, revision: appended.revision, position: appended.position, duplicate: false });
  if (outcome.alreadyStored) return succeed({ chatId, messageId, ...outcome.alreadyStored, duplicate: true });
  const first = outcome.state.started ? (outcome.state.recentMessages.get(messageId) ?? older.loaded.facts)?.deleted : undefined;
  if (!first) return fail(domainError('MESSAGE_NOT_FOUND'));
  return succeed({ chatId, messageId, revision: first.revision, position: first.position, duplicate: true });
}
