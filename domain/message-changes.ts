/**
 * Editing and deleting a sent message: the decisions and what the chat's state keeps for them.
 * Split from chat.ts, which owns the state and calls these from its decide and evolve.
 */
import { domainError, type DomainError } from './errors.js';
import type { ChatEvent, MessageDeleted, MessageEdited, MessageSent } from './events.js';
import { accept, reject, type Decision } from './result.js';
import { hasVisibleText, isStorableText } from './text.js';

/**
 * The rule of every client-chosen id (clientMessageId, clientEditId, clientDeleteId), all refused with
 * CLIENT_MESSAGE_ID_INVALID: chat.ts checks sends with it too.
 */
export const CLIENT_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** The default of CHAT_MESSAGE_EDIT_WINDOW_SECONDS (infra/config.ts). */
export const DEFAULT_EDIT_WINDOW_MS = 24 * 60 * 60 * 1000;

/**
 * What deciding an edit or delete needs of a message (no body). The chat's state keeps them for its
 * last DEDUPE_WINDOW messages only, so it stays bounded however long the chat; an older message's
 * facts are read from the log by the caller and handed in with the command (commands/message-facts.ts),
 * which keeps the decision pure.
 */
export interface MessageFacts {
  senderId: string;
  sentAtMs: number;
  /** Set once deleted: the clientDeleteId that did it, so its retry is answered with where it was appended. */
  deleted?: ChangeRef & { by: string };
}

export interface ChangeRef {
  revision: number;
  position: bigint;
}

/** A remembered message: its facts, and its revision (unread counts from the state, domain/chat.ts). */
export interface RecentMessage extends MessageFacts {
  revision: number;
}

export interface MessageChangeState {
  /** The last DEDUPE_WINDOW messages by id, oldest first. */
  recentMessages: Map<string, RecentMessage>;
  /** key `${messageId}\u0000${clientEditId}`, the last DEDUPE_WINDOW edits, oldest first. */
  recentEdits: Map<string, ChangeRef>;
}

export type EditMessageCommand = {
  type: 'EditMessage';
  chatId: string;
  messageId: string;
  editorId: string;
  clientEditId: string;
  body: string;
  at: string;
  /** From CHAT_MESSAGE_EDIT_WINDOW_SECONDS: the caller's setting, so the decision stays pure. */
  editWindowMs: number;
} & OlderMessage;

/**
 * Set by the caller when the state no longer remembers the message: its facts as read from the log
 * at the state's revision, or null when the log holds no such message in this chat.
 */
export interface OlderMessage {
  target?: MessageFacts | null;
}

export type DeleteMessageCommand = {
  type: 'DeleteMessage';
  chatId: string;
  messageId: string;
  deleterId: string;
  clientDeleteId: string;
  at: string;
} & OlderMessage;

const editKey = (messageId: string, clientEditId: string): string => `${messageId}\u0000${clientEditId}`;

/** The message's facts: remembered by the state, else handed in with the command; undefined: not found. */
export const factsOf = (state: MessageChangeState, command: { messageId: string } & OlderMessage): MessageFacts | undefined =>
  state.recentMessages.get(command.messageId) ?? command.target ?? undefined;

/** Whether the caller must load the message's facts from the log before deciding (the state forgot it). */
export const needsFacts = (state: MessageChangeState, messageId: string): boolean => !state.recentMessages.has(messageId);

/** A repeated edit (same message, same clientEditId): where the first one was appended, else undefined. */
export function findEdit(state: MessageChangeState, messageId: string, clientEditId: string): ChangeRef | undefined {
  return state.recentEdits.get(editKey(messageId, clientEditId));
}

/** The body rules of sending and editing: trimmed, something visible, storable, at most maxChars. */
export function checkBody(raw: string, maxChars: number): { ok: true; body: string } | { ok: false; error: DomainError } {
  const body = raw.trim();
  if (!hasVisibleText(body)) return { ok: false, error: domainError('MESSAGE_EMPTY') };
  if (!isStorableText(body)) return { ok: false, error: domainError('MESSAGE_INVALID_CHARACTERS') };
  if ([...body].length > maxChars) return { ok: false, error: domainError('MESSAGE_TOO_LONG') };
  return { ok: true, body };
}

/** Assumes the chat exists and the editor takes part in it (chat.ts checks both first). */
export function decideEdit(command: EditMessageCommand, state: MessageChangeState, maxChars: number): Decision<ChatEvent> {
  if (!CLIENT_ID.test(command.clientEditId)) return reject(domainError('CLIENT_MESSAGE_ID_INVALID'));
  const facts = factsOf(state, command);
  if (!facts) return reject(domainError('MESSAGE_NOT_FOUND'));
  // Before the repeat check: a repeat key names no editor, so another participant presenting the
  // sender's clientEditId would otherwise be told their edit succeeded.
  if (facts.senderId !== command.editorId) return reject(domainError('NOT_MESSAGE_SENDER'));
  // A retry is answered as a repeat even once the message was deleted or the window has passed.
  if (findEdit(state, command.messageId, command.clientEditId)) return accept([]);
  if (facts.deleted) return reject(domainError('MESSAGE_DELETED'));
  if (Date.parse(command.at) - facts.sentAtMs > command.editWindowMs) return reject(domainError('EDIT_WINDOW_PASSED'));
  const checked = checkBody(command.body, maxChars);
  if (!checked.ok) return reject(checked.error);
  const { chatId, messageId, clientEditId, at } = command;
  return accept([{ type: 'MessageEdited', version: 1, data: { chatId, messageId, senderId: command.editorId, clientEditId, body: checked.body, editedAt: at } }]);
}

export function decideDelete(command: DeleteMessageCommand, state: MessageChangeState): Decision<ChatEvent> {
  if (!CLIENT_ID.test(command.clientDeleteId)) return reject(domainError('CLIENT_MESSAGE_ID_INVALID'));
  const facts = factsOf(state, command);
  if (!facts) return reject(domainError('MESSAGE_NOT_FOUND'));
  if (facts.senderId !== command.deleterId) return reject(domainError('NOT_MESSAGE_SENDER'));
  if (facts.deleted) return facts.deleted.by === command.clientDeleteId ? accept([]) : reject(domainError('MESSAGE_DELETED'));
  const { chatId, messageId, clientDeleteId, at } = command;
  return accept([{ type: 'MessageDeleted', version: 1, data: { chatId, messageId, senderId: command.deleterId, clientDeleteId, deletedAt: at } }]);
}

const sentAtMsOf = (sentAt: string): number => {
  const ms = Date.parse(sentAt);
  return Number.isNaN(ms) ? 0 : ms;
};

/** A message's facts from its MessageSent and, when it was deleted, its MessageDeleted (and where that sits). */
export function factsFrom(sent: MessageSent, deleted: { event: MessageDeleted; ref: ChangeRef } | null): MessageFacts {
  const facts: MessageFacts = { senderId: sent.data.senderId, sentAtMs: sentAtMsOf(sent.data.sentAt) };
  if (deleted) facts.deleted = { by: deleted.event.data.clientDeleteId, ...deleted.ref };
  return facts;
}

/** Folds a message event into the facts; mutates in place, as chat.ts's evolve does (one owner per fold). */
export function evolveChanges(
  state: MessageChangeState,
  event: MessageSent | MessageEdited | MessageDeleted,
  ref: ChangeRef,
  window: number,
): void {
  switch (event.type) {
    case 'MessageSent': {
      const messages = state.recentMessages;
      messages.set(event.data.messageId, { senderId: event.data.senderId, sentAtMs: sentAtMsOf(event.data.sentAt), revision: ref.revision });
      if (messages.size > window) messages.delete(messages.keys().next().value as string);
      return;
    }
    case 'MessageEdited': {
      const edits = state.recentEdits;
      edits.set(editKey(event.data.messageId, event.data.clientEditId), ref);
      if (edits.size > window) edits.delete(edits.keys().next().value as string);
      return;
    }
    case 'MessageDeleted': {
      // A message the window forgot: nothing to note, its facts are read from the log when needed.
      const facts = state.recentMessages.get(event.data.messageId);
      if (facts) facts.deleted = { by: event.data.clientDeleteId, revision: ref.revision, position: ref.position };
      return;
    }
  }
}
