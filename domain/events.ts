/**
 * Domain events. Every event carries a schema version so that an old shape can be upcast when read
 * (see upcast.ts); times are ISO-8601 strings so events stay plain JSON.
 */
export type Role = 'user' | 'auditor';

export interface UserRegistered {
  type: 'UserRegistered';
  version: 1;
  /**
   * `erased`: read after the user's data key was destroyed (docs/privacy.md); passwordHash is then ''.
   * Never written: the log holds the hash sealed (UserRegistered v2, infra/keys/seal-events.ts).
   */
  data: { userId: string; username: string; passwordHash: string; role: Role; registeredAt: string; erased?: true };
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
/** The user's data key was destroyed: their bodies and password hash are unreadable. Holds no personal data. */
export interface UserErased {
  type: 'UserErased';
  version: 1;
  data: { userId: string; at: string; by: 'self' | 'operator' };
}
export interface ChatStarted {
  type: 'ChatStarted';
  version: 1;
  data: { chatId: string; participants: [string, string]; startedBy: string; at: string };
}
export interface MessageSent {
  type: 'MessageSent';
  version: 2;
  /**
   * `erased`: read after the sender's data key was destroyed; body is then ''. Never written: the log
   * holds the body sealed (MessageSent v3, infra/keys/seal-events.ts).
   */
  data: { chatId: string; messageId: string; senderId: string; clientMessageId: string; body: string; sentAt: string; erased?: true };
}

/**
 * The sender changed a message's body (decided in domain/chat.ts). `clientEditId` makes a retried edit
 * the same event. `erased`: as MessageSent's; the log holds the body sealed (MessageEdited v2, infra/keys/seal-events.ts).
 */
export interface MessageEdited {
  type: 'MessageEdited';
  version: 1;
  data: { chatId: string; messageId: string; senderId: string; clientEditId: string; body: string; editedAt: string; erased?: true };
}
/** The sender deleted a message for everyone: read models drop its body. Holds no body. */
export interface MessageDeleted {
  type: 'MessageDeleted';
  version: 1;
  data: { chatId: string; messageId: string; senderId: string; clientDeleteId: string; deletedAt: string };
}

/** A participant has read a chat up to a revision (docs/architecture.md: stored in a stream per chat and reader). */
export interface ChatRead {
  type: 'ChatRead';
  version: 1;
  data: { chatId: string; readerId: string; upToRevision: number; at: string };
}

export type UserEvent = UserRegistered | UserLoggedIn | UserLoggedOut | ChatOpened | UserErased;
export type ChatEvent = ChatStarted | MessageSent | MessageEdited | MessageDeleted;
export type ReadEvent = ChatRead;
export type DomainEvent = UserEvent | ChatEvent | ReadEvent;
export type DomainEventType = DomainEvent['type'];

/** Current schema version of each event type: what the write side appends today. */
export const EVENT_VERSIONS: { [K in DomainEventType]: Extract<DomainEvent, { type: K }>['version'] } = {
  UserRegistered: 1,
  UserLoggedIn: 1,
  UserLoggedOut: 1,
  ChatOpened: 1,
  UserErased: 1,
  ChatStarted: 1,
  MessageSent: 2,
  MessageEdited: 1,
  MessageDeleted: 1,
  ChatRead: 1,
};

/**
 * Which family of streams each event type is written to; the type lists below are derived from it.
 * Adding an event type: add it to its family's union above (UserEvent, ChatEvent, ReadEvent) and here
 * with that family; the `satisfies` fails the build until the entry exists and names the right family.
 * A new family gets its own union, its own line in the `satisfies` and its own list below.
 */
export const EVENT_FAMILIES = {
  UserRegistered: 'user',
  UserLoggedIn: 'user',
  UserLoggedOut: 'user',
  ChatOpened: 'user',
  UserErased: 'user',
  ChatStarted: 'chat',
  MessageSent: 'chat',
  MessageEdited: 'chat',
  MessageDeleted: 'chat',
  ChatRead: 'reads',
} as const satisfies { [K in UserEvent['type']]: 'user' } & { [K in ChatEvent['type']]: 'chat' } & { [K in ReadEvent['type']]: 'reads' };

export type EventFamily = (typeof EVENT_FAMILIES)[DomainEventType];

const typesOf = (family: EventFamily): ReadonlySet<string> =>
  new Set(Object.entries(EVENT_FAMILIES).filter(([, f]) => f === family).map(([type]) => type));

export const USER_EVENT_TYPES: ReadonlySet<string> = typesOf('user');
export const CHAT_EVENT_TYPES: ReadonlySet<string> = typesOf('chat');
export const READ_EVENT_TYPES: ReadonlySet<string> = typesOf('reads');

/** Whether a type read from the log is one this code defines (records of other types are not its events). */
export const isDomainEventType = (type: string): type is DomainEventType => Object.hasOwn(EVENT_FAMILIES, type);

/** Where each event is written; the stream name is also how readers find an aggregate. */
export const userStreamId = (userId: string): string => `user-${userId}`;
export const chatStreamId = (chatId: string): string => `chat-${chatId}`;
/** One stream per (chat, reader): marking read never writes to, or waits on, the chat's own stream. */
export const readsStreamId = (chatId: string, readerId: string): string => `reads-${chatId}-${readerId}`;
export const isReadsStreamId = (streamId: string): boolean => streamId.startsWith('reads-');
