/** What the HTTP API answers (docs/http.md); only the fields the pages use. */

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
  lastMessage: { senderId: string; body: string; sentAt: string; revision: number } | null;
  updatedAt: string;
}

export interface ChatRef {
  chatId: string;
  participants: [string, string];
  status: 'created' | 'existing';
}

export interface Message {
  chatId: string;
  messageId: string;
  senderId: string;
  clientMessageId: string;
  body: string;
  sentAt: string;
  revision: number;
}

export interface HistoryPage {
  /** Newest first. */
  messages: Message[];
  nextBefore: number | null;
}
