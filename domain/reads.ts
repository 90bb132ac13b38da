/**
 * Read receipts: how far one participant has read one chat. Its own stream per (chat, reader)
 * (readsStreamId), so marking read never appends to the chat's stream: a send and a read cannot
 * conflict, and neither waits for the other. The chat's facts the decision needs (participants, the
 * newest revision) arrive with the command, read by the caller without writing to the chat.
 */
import type { Decider } from './decider.js';
import { domainError } from './errors.js';
import type { ReadEvent } from './events.js';
import { accept, reject, type Decision } from './result.js';

/** What the caller knows of the chat: null when it does not exist. `newestRevision` may be a lower bound, as long as it covers the revision asked for when that exists. */
export interface ChatFacts {
  participants: readonly [string, string];
  newestRevision: number;
}

export type ReadCommand = {
  type: 'MarkRead';
  chatId: string;
  readerId: string;
  upToRevision: number;
  chat: ChatFacts | null;
  at: string;
};

/** Revision 0 is ChatStarted: a reader who has read nothing stands there. */
export interface ReadState {
  upToRevision: number;
}

export const initialReadState: ReadState = { upToRevision: 0 };

function decide(command: ReadCommand, state: ReadState): Decision<ReadEvent> {
  const { chat, readerId, upToRevision } = command;
  if (!chat) return reject(domainError('CHAT_NOT_FOUND'));
  if (!chat.participants.includes(readerId)) return reject(domainError('NOT_A_PARTICIPANT'));
  if (!Number.isSafeInteger(upToRevision) || upToRevision < 0) return reject(domainError('READ_REVISION_INVALID'));
  // Monotonic and idempotent: a position at or below the marked one is already true.
  if (upToRevision <= state.upToRevision) return accept([]);
  if (upToRevision > chat.newestRevision) return reject(domainError('READ_REVISION_AHEAD'));
  return accept([{ type: 'ChatRead', version: 1, data: { chatId: command.chatId, readerId, upToRevision, at: command.at } }]);
}

function evolve(state: ReadState, event: ReadEvent): ReadState {
  return event.data.upToRevision > state.upToRevision ? { upToRevision: event.data.upToRevision } : state;
}

export const readDecider: Decider<ReadCommand, ReadState, ReadEvent> = { initialState: initialReadState, decide, evolve };
