/**
 * What the HTTP read endpoints need from the read side, in the API's own shapes. The composition
 * root adapts the SQL read models (infra/read-models/queries/*) to it (see read-models.ts), so the
 * routes do not depend on the ORM and the tests can build the same adapter for PostgreSQL and SQLite.
 */
import type { ActivityAction } from '../../projections/activity-of.js';
import type { MessageFields } from '../../projections/ports/last-messages.js';

export interface PageOf<T> {
  items: T[];
  /** Opaque; pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export interface UserSummary {
  userId: string;
  username: string;
}

export interface MessageView extends MessageFields {
  /** When the sender last edited it; null: never. */
  editedAt: string | null;
  /** Deleted for everyone: body is ''. */
  deleted: boolean;
}

export interface LastMessage {
  /** Matches the messageId of a MessageEdited/MessageDeleted event: a live chat list follows them. */
  messageId: string;
  senderId: string;
  body: string;
  sentAt: string;
  revision: number;
  edited: boolean;
  /** Deleted for everyone: body is ''. */
  deleted: boolean;
}

export interface ChatSummary {
  chatId: string;
  other: UserSummary;
  /** The other participant erased their account: the chat opens, but takes no new messages. */
  otherErased: boolean;
  lastMessage: LastMessage | null;
  /** When the chat last changed (last message, else start); the list is ordered by it, newest first. */
  updatedAt: string;
  /** The other participant's messages beyond my read position. */
  unread: number;
  /** How far I, and the other participant, have read the chat (revision; 0: nothing). */
  readUpTo: number;
  otherReadUpTo: number;
}

export interface ActivityEntry {
  userId: string;
  action: ActivityAction;
  chatId: string | null;
  at: string;
}

export interface ErrorEntry {
  at: string;
  level: number;
  process: string;
  message: string;
  context: Record<string, unknown> | null;
}

export interface ActivityQuery {
  userId?: string;
  action?: ActivityAction;
  from?: Date;
  to?: Date;
  limit: number;
  cursor?: string;
}

export interface MessageCountsQuery {
  userId: string;
  /** First and last day, inclusive, 'YYYY-MM-DD' (UTC). */
  from?: string;
  to?: string;
}

/**
 * Days with at least one message, oldest first (at most 1,000): GET /api/stats/messages-per-day.
 * A function rather than a method of HttpReadModels because the composition may leave it out.
 */
export type MessageCountsReader = (q: MessageCountsQuery) => Promise<Array<{ day: string; count: number }>>;

export interface HttpReadModels {
  searchUsers(q: { prefix: string; limit: number; cursor?: string }): Promise<PageOf<UserSummary>>;
  chatsOf(q: { userId: string; limit: number; cursor?: string }): Promise<PageOf<ChatSummary>>;
  /** The sum of the user's unread counts over all their chats. */
  unreadTotal(userId: string): Promise<number>;
  /** Messages with revision < before (all when absent), newest first, at most limit. */
  history(q: { chatId: string; before?: number; limit: number }): Promise<MessageView[]>;
  activity(q: ActivityQuery): Promise<PageOf<ActivityEntry>>;
  errors(q: { process?: string; minLevel?: number; from?: Date; to?: Date; limit: number; cursor?: string }): Promise<PageOf<ErrorEntry>>;
}
