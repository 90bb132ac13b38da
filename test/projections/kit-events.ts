// Domain events for projection-kit tests, with readable defaults. Registrations carry a real-looking
// argon2 hash: the kit passes events through the redaction, so it must never reach a row.
import type { DomainEvent, Role } from '../../domain/events.js';
import { chatIdFor } from '../../domain/chat-id.js';

export const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA';

export const registered = (userId: string, at: string, role: Role = 'user'): DomainEvent =>
  ({ type: 'UserRegistered', version: 1, data: { userId, username: userId, passwordHash: HASH, role, registeredAt: at } });
export const loggedIn = (userId: string, at: string): DomainEvent => ({ type: 'UserLoggedIn', version: 1, data: { userId, at } });
export const loggedOut = (userId: string, at: string): DomainEvent => ({ type: 'UserLoggedOut', version: 1, data: { userId, at } });
export const chatOpened = (userId: string, chatId: string, at: string): DomainEvent => ({ type: 'ChatOpened', version: 1, data: { userId, chatId, at } });

export function chatStarted(startedBy: string, other: string, at: string): DomainEvent {
  const participants = (startedBy < other ? [startedBy, other] : [other, startedBy]) as [string, string];
  return { type: 'ChatStarted', version: 1, data: { chatId: chatIdFor(startedBy, other), participants, startedBy, at } };
}

export function messageSent(m: { chatId: string; senderId: string; body: string; sentAt: string; messageId: string; clientMessageId?: string }): DomainEvent {
  return {
    type: 'MessageSent',
    version: 2,
    data: { chatId: m.chatId, messageId: m.messageId, senderId: m.senderId, clientMessageId: m.clientMessageId ?? `c-${m.messageId}`, body: m.body, sentAt: m.sentAt },
  };
}

/** A MessageSent as version 1 wrote it: no clientMessageId. */
export function messageSentV1(m: { chatId: string; senderId: string; body: string; sentAt: string; messageId: string }) {
  return { type: 'MessageSent', version: 1, data: { chatId: m.chatId, messageId: m.messageId, senderId: m.senderId, body: m.body, sentAt: m.sentAt } };
}

/** A readable UUID for message ids: m(1) = 00000000-0000-4000-8000-00000000a001. */
export const m = (n: number): string => `00000000-0000-4000-8000-${(0xa000 + n).toString(16).padStart(12, '0')}`;

export const chatRead = (chatId: string, readerId: string, upToRevision: number, at: string): DomainEvent =>
  ({ type: 'ChatRead', version: 1, data: { chatId, readerId, upToRevision, at } });
