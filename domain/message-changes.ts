/**
 * Editing and deleting a sent message: the decisions and what the chat's state keeps for them.
 * Split from chat.ts, which owns the state and calls these from its decide and evolve.
 */
import { domainError, type DomainError } from './errors.js';
import type { ChatEvent, MessageDeleted, MessageEdited, MessageSent } from './events.js';
import { accept, reject, type Decision } from './result.js';
import { isStorableText } from './text.js';

/** Client ids of edits and deletes follow the clientMessageId rule (and its error code). */
export const CLIENT_CHANGE_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** The default of CHAT_MESSAGE_EDIT_WINDOW_SECONDS (infra/config.ts). */
export const DEFAULT_EDIT_WINDOW_MS = 24 * 60 * 60 * 1000;

/**
 * What deciding an edit or delete needs of each message, for every message of the chat: deleting has
 * no time limit, so no message can be forgotten. Kept small (no body): one entry per message.
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

export interface MessageChangeState {
  messages: Map<string, MessageFacts>;
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
};

export type DeleteMessageCommand = {
  type: 'DeleteMessage';
  chatId: string;
  messageId: string;
  deleterId: string;
  clientDeleteId: string;
  at: string;
};

const editKey = (messageId: string, clientEditId: string): string => `${messageId}\u0000${clientEditId}`;

/** A repeated edit (same message, same clientEditId): where the first one was appended, else undefined. */
export function findEdit(state: MessageChangeState, messageId: string, clientEditId: string): ChangeRef | undefined {
  return state.recentEdits.get(editKey(messageId, clientEditId));
}

/** The body rules of sending, applied to an edit: trimmed, not empty, storable, at most maxChars. */
export function checkBody(raw: string, maxChars: number): { ok: true; body: string } | { ok: false; error: DomainError } {
  const body = raw.trim();
  if (body.length === 0) return { ok: false, error: domainError('MESSAGE_EMPTY') };
  if (!isStorableText(body)) return { ok: false, error: domainError('MESSAGE_INVALID_CHARACTERS') };
  if ([...body].length > maxChars) return { ok: false, error: domainError('MESSAGE_TOO_LONG') };
  return { ok: true, body };
}

/** Assumes the chat exists and the editor takes part in it (chat.ts checks both first). */
export function decideEdit(command: EditMessageCommand, state: MessageChangeState, maxChars: number): Decision<ChatEvent> {
  if (!CLIENT_CHANGE_ID.test(command.clientEditId)) return reject(domainError('CLIENT_MESSAGE_ID_INVALID'));
  if (findEdit(state, command.messageId, command.clientEditId)) return accept([]);
  const facts = state.messages.get(command.messageId);
  if (!facts) return reject(domainError('MESSAGE_NOT_FOUND'));
  if (facts.senderId !== command.editorId) return reject(domainError('NOT_MESSAGE_SENDER'));
  if (facts.deleted) return reject(domainError('MESSAGE_DELETED'));
  if (Date.parse(command.at) - facts.sentAtMs > command.editWindowMs) return reject(domainError('EDIT_WINDOW_PASSED'));
  const checked = checkBody(command.body, maxChars);
  if (!checked.ok) return reject(checked.error);
  const { chatId, messageId, clientEditId, at } = command;
  return accept([{ type: 'MessageEdited', version: 1, data: { chatId, messageId, senderId: command.editorId, clientEditId, body: checked.body, editedAt: at } }]);
}

export function decideDelete(command: DeleteMessageCommand, state: MessageChangeState): Decision<ChatEvent> {
  if (!CLIENT_CHANGE_ID.test(command.clientDeleteId)) return reject(domainError('CLIENT_MESSAGE_ID_INVALID'));
  const facts = state.messages.get(command.messageId);
  if (!facts) return reject(domainError('MESSAGE_NOT_FOUND'));
  if (facts.senderId !== command.deleterId) return reject(domainError('NOT_MESSAGE_SENDER'));
  if (facts.deleted) return facts.deleted.by === command.clientDeleteId ? accept([]) : reject(domainError('MESSAGE_DELETED'));
  const { chatId, messageId, clientDeleteId, at } = command;
  return accept([{ type: 'MessageDeleted', version: 1, data: { chatId, messageId, senderId: command.deleterId, clientDeleteId, deletedAt: at } }]);
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
      const sentAtMs = Date.parse(event.data.sentAt);
      state.messages.set(event.data.messageId, { senderId: event.data.senderId, sentAtMs: Number.isNaN(sentAtMs) ? 0 : sentAtMs });
      return;
    }
    case 'MessageEdited': {
      const edits = state.recentEdits;
      edits.set(editKey(event.data.messageId, event.data.clientEditId), ref);
      if (edits.size > window) edits.delete(edits.keys().next().value as string);
      return;
    }
    case 'MessageDeleted': {
      const facts = state.messages.get(event.data.messageId);
      if (facts) facts.deleted = { by: event.data.clientDeleteId, revision: ref.revision, position: ref.position };
      return;
    }
  }
}
