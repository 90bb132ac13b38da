/**
 * What the HTTP read endpoints need from the read side, in the API's own shapes. The composition
 * root adapts the SQL read models (infra/read-models/queries/*) to it (see read-models.ts), so the
 * routes do not depend on the ORM and the tests can build the same adapter for PostgreSQL and SQLite.
 */
import type { ActivityAction } from '../../infra/read-models/entities/activity-log.js';

export interface PageOf<T> {
  items: T[];
  /** Opaque; pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export interface UserSummary {
  userId: string;
  username: string;
}

export interface MessageView {
  chatId: string;
  messageId: string;
  senderId: string;
  clientMessageId: string;
  body: string;
  sentAt: string;
  /** Revision of the message in its chat's stream: the history paging key. */
  revision: number;
}

export interface LastMessage {
  senderId: string;
  body: string;
  sentAt: string;
  revision: number;
}

export interface ChatSummary {
  chatId: string;
  other: UserSummary;
  lastMessage: LastMessage | null;
  /** When the chat last changed (last message, else start); the list is ordered by it, newest first. */
  updatedAt: string;
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

export interface HttpReadModels {
  searchUsers(q: { prefix: string; limit: number; cursor?: string }): Promise<PageOf<UserSummary>>;
  chatsOf(q: { userId: string; limit: number; cursor?: string }): Promise<PageOf<ChatSummary>>;
  /** Messages with revision < before (all when absent), newest first, at most limit. */
  history(q: { chatId: string; before?: number; limit: number }): Promise<MessageView[]>;
  activity(q: ActivityQuery): Promise<PageOf<ActivityEntry>>;
  errors(q: { process?: string; minLevel?: number; from?: Date; to?: Date; limit: number; cursor?: string }): Promise<PageOf<ErrorEntry>>;
}
