/** What the HTTP API answers (docs/http.md); only the fields the pages use. */
import type { MessageView } from '../../http/read-port.js';

export interface MeUser {
  userId: string;
  username: string;
  role: 'user' | 'auditor';
}

export interface MeResponse {
  user: MeUser;
  csrfToken: string | null;
}

export interface LoginResponse {
  user: MeUser;
  csrfToken?: string;
}

export interface UserRef {
  userId: string;
  username: string;
}

export interface ChatSummary {
  chatId: string;
  other: UserRef;
  /** The other participant erased their account (docs/privacy.md). */
  otherErased?: boolean;
  /** `messageId` matches a MessageEdited/MessageDeleted event's: the live list follows them (chat-list.ts). */
  lastMessage: { messageId: string; senderId: string; body: string; sentAt: string; revision: number; edited?: boolean; deleted?: boolean } | null;
  updatedAt: string;
  /** The other participant's messages after readUpTo; how far I and they have read (0: nothing). */
  unread: number;
  readUpTo: number;
  otherReadUpTo: number;
}

export interface ChatListPage {
  chats: ChatSummary[];
  nextCursor: string | null;
  unreadTotal: number;
}

export interface ChatRef {
  chatId: string;
  participants: [string, string];
  status: 'created' | 'existing';
}

/** POST /api/chats/:chatId/open. */
export interface OpenedChat {
  chatId: string;
  participants: [string, string];
  /** The other participant erased their account: the chat takes no new messages. */
  otherErased: boolean;
}

/** A message of the history: the API's own type, so the pages cannot drift from what it answers. */
export type Message = MessageView;

export interface HistoryPage {
  /** Newest first. */
  messages: Message[];
  nextBefore: number | null;
  /** Each participant's read position (revision; 0: nothing). */
  reads: Record<string, number>;
}
