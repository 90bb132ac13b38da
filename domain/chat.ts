import type { Decider, EventMeta } from './decider.js';
import { domainError } from './errors.js';
import type { ChatEvent } from './events.js';
import { CLIENT_ID, checkBody, decideDelete, decideEdit, evolveChanges, type DeleteMessageCommand, type EditMessageCommand, type MessageChangeState } from './message-changes.js';
import { accept, reject, type Decision } from './result.js';

export const MESSAGE_MAX_CHARS = 4000;
/** How many recent clientMessageIds per chat are remembered for de-duplication; older retries are not expected. */
export const DEDUPE_WINDOW = 1000;

export type ChatCommand =
  | {
      type: 'StartChat';
      chatId: string;
      initiatorId: string;
      otherId: string;
      /** Whether each user exists, as read from their streams by the caller. */
      initiatorExists: boolean;
      otherExists: boolean;
      /** Whether the other user's account was erased: no new chat with it (docs/privacy.md). */
      otherErased?: boolean;
      at: string;
    }
  | {
      type: 'SendMessage';
      chatId: string;
      messageId: string;
      senderId: string;
      clientMessageId: string;
      body: string;
      at: string;
      /** Whether the other participant's account was erased, as the caller last saw their stream: then the chat takes no new messages. */
      recipientErased?: boolean;
    }
  | EditMessageCommand
  | DeleteMessageCommand;

export interface SentMessageRef {
  messageId: string;
  revision: number;
  position: bigint;
}

export type ChatState =
  | { started: false }
  | {
      started: true;
      chatId: string;
      participants: [string, string];
      /** key `${senderId}\u0000${clientMessageId}`, insertion-ordered so the oldest is dropped first. */
      recentClientIds: Map<string, SentMessageRef>;
    } & MessageChangeState;

export const initialChatState: ChatState = { started: false };

/** The participant of a pair who is not `userId`. */
export const otherParticipant = (participants: readonly [string, string], userId: string): string =>
  participants[0] === userId ? participants[1] : participants[0];

const dedupeKey = (senderId: string, clientMessageId: string): string => `${senderId}\u0000${clientMessageId}`;

/** A repeated clientMessageId from the same sender: the first message's reference, else undefined. */
export function findSentMessage(state: ChatState, senderId: string, clientMessageId: string): SentMessageRef | undefined {
  return state.started ? state.recentClientIds.get(dedupeKey(senderId, clientMessageId)) : undefined;
}

function decide(command: ChatCommand, state: ChatState): Decision<ChatEvent> {
  switch (command.type) {
    case 'StartChat': {
      if (command.initiatorId === command.otherId) return reject(domainError('CHAT_WITH_SELF'));
      if (!command.initiatorExists || !command.otherExists) return reject(domainError('USER_NOT_FOUND'));
      // An existing chat still opens (its history shows the erased messages); a new one would only
      // collect messages nobody can ever read.
      if (state.started) return accept([]);
      if (command.otherErased === true) return reject(domainError('USER_ERASED'));
      const participants: [string, string] = command.initiatorId < command.otherId
        ? [command.initiatorId, command.otherId]
        : [command.otherId, command.initiatorId];
      return accept([{ type: 'ChatStarted', version: 1, data: { chatId: command.chatId, participants, startedBy: command.initiatorId, at: command.at } }]);
    }
    case 'SendMessage': {
      if (!state.started) return reject(domainError('CHAT_NOT_FOUND'));
      if (!state.participants.includes(command.senderId)) return reject(domainError('NOT_A_PARTICIPANT'));
      if (!CLIENT_ID.test(command.clientMessageId)) return reject(domainError('CLIENT_MESSAGE_ID_INVALID'));
      if (findSentMessage(state, command.senderId, command.clientMessageId)) return accept([]);
      // After the de-duplication: a retry of a message stored before the erasure still gets its answer.
      if (command.recipientErased === true) return reject(domainError('PARTICIPANT_ERASED'));
      const checked = checkBody(command.body, MESSAGE_MAX_CHARS);
      if (!checked.ok) return reject(checked.error);
      const body = checked.body;
      const { chatId, messageId, senderId, clientMessageId, at } = command;
      return accept([{ type: 'MessageSent', version: 2, data: { chatId, messageId, senderId, clientMessageId, body, sentAt: at } }]);
    }
    case 'EditMessage':
    case 'DeleteMessage': {
      if (!state.started) return reject(domainError('CHAT_NOT_FOUND'));
      const actor = command.type === 'EditMessage' ? command.editorId : command.deleterId;
      if (!state.participants.includes(actor)) return reject(domainError('NOT_A_PARTICIPANT'));
      return command.type === 'EditMessage' ? decideEdit(command, state, MESSAGE_MAX_CHARS) : decideDelete(command, state);
    }
  }
}

function evolve(state: ChatState, event: ChatEvent, meta: EventMeta): ChatState {
  switch (event.type) {
    case 'ChatStarted':
      return { started: true, chatId: event.data.chatId, participants: event.data.participants, recentClientIds: new Map(), recentMessages: new Map(), recentEdits: new Map() };
    case 'MessageSent': {
      if (!state.started) return state;
      // Mutated in place: state is owned by one fold, and copying a 1,000-entry map per event would make folds quadratic.
      const ids = state.recentClientIds;
      ids.set(dedupeKey(event.data.senderId, event.data.clientMessageId), { messageId: event.data.messageId, revision: meta.revision, position: meta.position });
      if (ids.size > DEDUPE_WINDOW) ids.delete(ids.keys().next().value as string);
      evolveChanges(state, event, meta, DEDUPE_WINDOW);
      return state;
    }
    case 'MessageEdited':
    case 'MessageDeleted':
      if (state.started) evolveChanges(state, event, meta, DEDUPE_WINDOW);
      return state;
  }
}

/** One for the chat, one per remembered clientMessageId, edit id and message (each up to DEDUPE_WINDOW). */
const weight = (state: ChatState): number =>
  1 + (state.started ? state.recentClientIds.size + state.recentEdits.size + state.recentMessages.size : 0);

export const chatDecider: Decider<ChatCommand, ChatState, ChatEvent> = { initialState: initialChatState, decide, evolve, weight };

/**
 * How many messages after `afterRevision` were sent by someone other than `readerId` and not deleted,
 * from what the state remembers (the last DEDUPE_WINDOW messages); null when that does not reach back
 * far enough.
 * Lets a gateway count a reader's unread messages from a cached state without reading the stream.
 */
export function countOthersAfter(state: ChatState, revision: number, afterRevision: number, readerId: string): number | null {
  if (!state.started) return null;
  if (afterRevision >= revision) return 0;
  // Forgotten messages are older than the oldest remembered: they matter only when it is beyond afterRevision + 1.
  const oldest = state.recentMessages.values().next().value;
  if (state.recentMessages.size >= DEDUPE_WINDOW && oldest !== undefined && oldest.revision > afterRevision + 1) return null;
  let count = 0;
  for (const m of state.recentMessages.values()) {
    if (m.revision > afterRevision && m.senderId !== readerId && !m.deleted) count++;
  }
  return count;
}
