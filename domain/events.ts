/**
 * Domain events. Every event carries a schema version so that an old shape can be upcast when read
 * (see upcast.ts); times are ISO-8601 strings so events stay plain JSON.
 */
export type Role = 'user' | 'auditor';

export interface UserRegistered {
  type: 'UserRegistered';
  version: 1;
  data: { userId: string; username: string; passwordHash: string; role: Role; registeredAt: string };
}
export interface UserLoggedIn {
  type: 'UserLoggedIn';
  version: 1;
  data: { userId: string; at: string };
}
export interface UserLoggedOut {
  type: 'UserLoggedOut';
  version: 1;
  data: { userId: string; at: string };
}
export interface ChatOpened {
  type: 'ChatOpened';
  version: 1;
  data: { userId: string; chatId: string; at: string };
}
export interface ChatStarted {
  type: 'ChatStarted';
  version: 1;
  data: { chatId: string; participants: [string, string]; startedBy: string; at: string };
}
export interface MessageSent {
  type: 'MessageSent';
  version: 2;
  data: { chatId: string; messageId: string; senderId: string; clientMessageId: string; body: string; sentAt: string };
}

export type UserEvent = UserRegistered | UserLoggedIn | UserLoggedOut | ChatOpened;
export type ChatEvent = ChatStarted | MessageSent;
export type DomainEvent = UserEvent | ChatEvent;
export type DomainEventType = DomainEvent['type'];

/** Current schema version of each event type: what the write side appends today. */
export const EVENT_VERSIONS: { [K in DomainEventType]: Extract<DomainEvent, { type: K }>['version'] } = {
  UserRegistered: 1,
  UserLoggedIn: 1,
  UserLoggedOut: 1,
  ChatOpened: 1,
  ChatStarted: 1,
  MessageSent: 2,
};

export const USER_EVENT_TYPES: ReadonlySet<string> = new Set(['UserRegistered', 'UserLoggedIn', 'UserLoggedOut', 'ChatOpened']);
export const CHAT_EVENT_TYPES: ReadonlySet<string> = new Set(['ChatStarted', 'MessageSent']);

/** Where each event is written; the stream name is also how readers find an aggregate. */
export const userStreamId = (userId: string): string => `user-${userId}`;
export const chatStreamId = (chatId: string): string => `chat-${chatId}`;
