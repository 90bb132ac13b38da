/**
 * The profile page's chat list, live: newest activity first, each chat with its last message and
 * an unread badge, and the total in the page title. It starts from GET /api/chats and then follows
 * the socket: a new message moves its chat to the top, a chat started by someone else appears, an
 * edit or delete of a chat's last message changes its preview in place (as the chats read model
 * does, so a reload shows the same), and read state (mine from any device, via the typed client's
 * ReadTracker) sets the badges.
 */
import type { ChatReadState } from '../../ws/client/chat-socket.js';
import type { EventFrame } from '../../ws/protocol.js';
import { el } from './dom.js';
import type { ChatListPage, ChatSummary, MeUser } from './types.js';

export interface LiveChatListOptions {
  list: HTMLElement;
  empty: HTMLElement;
  me: MeUser;
  /** Builds the element of one chat (the page's markup); the list adds the badge. */
  render: (chat: ChatSummary) => HTMLElement;
  /** Called for each element after it is (re)built. */
  rendered?: (item: HTMLElement) => void;
  /** The page title without the count. */
  title: string;
}

export class LiveChatList {
  readonly #chats = new Map<string, ChatSummary>();
  readonly #items = new Map<string, HTMLElement>();
  /** Per chat, the revision of the last edit or delete the socket applied to its preview (cleared by a newer message). */
  readonly #changed = new Map<string, number>();
  constructor(private readonly o: LiveChatListOptions) {}

  chatIds(): string[] {
    return [...this.#chats.keys()];
  }

  get(chatId: string): ChatSummary | undefined {
    return this.#chats.get(chatId);
  }

  load(page: ChatListPage): void {
    const before = new Map(this.#chats);
    this.#chats.clear();
    this.#items.clear();
    for (const c of page.chats) {
      // The read model may trail what the socket already showed: keep the newer last message, and an
      // edit or delete of the same one it has not applied yet (but its delete: a delete is final).
      const old = before.get(c.chatId);
      const shown = old?.lastMessage;
      const newer = shown && (!c.lastMessage || shown.revision > c.lastMessage.revision);
      const changed = !newer && shown && this.#changed.has(c.chatId) && shown.messageId === c.lastMessage?.messageId && !c.lastMessage.deleted;
      if (!newer && !changed) this.#changed.delete(c.chatId);
      this.#chats.set(c.chatId, shown && (newer || changed) ? { ...c, lastMessage: shown, updatedAt: old.updatedAt } : { ...c });
    }
    // A chat the socket showed that the read model has not caught up with yet: chats never go away.
    for (const [chatId, old] of before) if (!this.#chats.has(chatId)) this.#chats.set(chatId, old);
    for (const c of this.#chats.values()) this.#render(c);
    this.#reorder();
  }

  /** A chat event from the socket: returns true when it added a chat the list did not have. */
  onEvent(e: EventFrame): boolean {
    const rec = e.record;
    const d = rec.data;
    if (rec.type === 'ChatStarted') {
      if (this.#chats.has(e.chatId)) return false;
      const participants = Array.isArray(d['participants']) ? (d['participants'] as unknown[]).map(String) : e.chatId.split(':');
      const other = participants.find((p) => p !== this.o.me.userId) ?? e.chatId;
      const at = String(d['at'] ?? rec.createdAt);
      const chat: ChatSummary = { chatId: e.chatId, other: { userId: other, username: other }, lastMessage: null, updatedAt: at, unread: 0, readUpTo: 0, otherReadUpTo: 0 };
      this.#chats.set(e.chatId, chat);
      this.#render(chat);
      this.#reorder();
      return true;
    }
    if (rec.type === 'MessageEdited' || rec.type === 'MessageDeleted') {
      this.#onChange(e);
      return false;
    }
    if (rec.type !== 'MessageSent') return false;
    const chat = this.#chats.get(e.chatId);
    if (!chat) return false;
    if (chat.lastMessage && chat.lastMessage.revision >= e.revision) return false;
    const sentAt = String(d['sentAt'] ?? rec.createdAt);
    // A record from a backlog carries the message as it now is (docs/websocket.md, "Event records").
    const deleted = d['deleted'] === true;
    chat.lastMessage = {
      messageId: String(d['messageId']), senderId: String(d['senderId']), body: deleted ? '' : String(d['body'] ?? ''), sentAt, revision: e.revision,
      edited: !deleted && typeof d['editedAt'] === 'string', deleted,
    };
    chat.updatedAt = sentAt;
    this.#changed.delete(e.chatId);
    this.#render(chat);
    this.#reorder();
    return false;
  }

  /**
   * An edit or delete changes the preview only when it is of the chat's last message, and nothing
   * after a delete; the chat keeps its place (activity is the message's sending time), as in
   * GET /api/chats (projections/message-changes.ts, applyPreviewChanges).
   */
  #onChange(e: EventFrame): void {
    const d = e.record.data;
    const chat = this.#chats.get(e.chatId);
    const last = chat?.lastMessage;
    if (!chat || !last || last.messageId !== d['messageId'] || last.deleted || (this.#changed.get(e.chatId) ?? -1) >= e.revision) return;
    // An edit from a backlog of a message deleted since comes blanked with deleted: true.
    const deleted = e.record.type === 'MessageDeleted' || d['deleted'] === true;
    chat.lastMessage = deleted ? { ...last, body: '', edited: false, deleted: true } : { ...last, body: String(d['body'] ?? ''), edited: true, deleted: false };
    this.#changed.set(e.chatId, e.revision);
    this.#render(chat);
  }

  /** The chat's other participant erased their account (the socket's participant_erased). */
  onParticipantErased(chatId: string): void {
    const chat = this.#chats.get(chatId);
    if (!chat || chat.otherErased) return;
    chat.otherErased = true;
    // Their bodies are gone (a reload shows the same): the preview of their last message says so.
    const last = chat.lastMessage;
    if (last && last.senderId === chat.other.userId && !last.deleted) chat.lastMessage = { ...last, body: '', edited: false };
    this.#render(chat);
  }

  onReadState(chatId: string, s: ChatReadState): void {
    const chat = this.#chats.get(chatId);
    if (!chat) return;
    chat.unread = s.unread;
    chat.readUpTo = s.mine;
    chat.otherReadUpTo = s.theirs;
    const item = this.#items.get(chatId);
    if (item) this.#badge(item, chat);
    this.#title();
  }

  #render(chat: ChatSummary): void {
    const item = this.o.render(chat);
    this.#badge(item, chat);
    const old = this.#items.get(chat.chatId);
    if (old) old.replaceWith(item);
    this.#items.set(chat.chatId, item);
    this.o.rendered?.(item);
  }

  #badge(item: HTMLElement, chat: ChatSummary): void {
    let badge = item.querySelector<HTMLElement>('.unread-badge');
    if (!badge) {
      badge = el('span', { className: 'unread-badge badge rounded-pill text-bg-primary ms-2' });
      (item.querySelector('strong') ?? item).after(badge);
    }
    badge.dataset['unread'] = String(chat.unread);
    badge.textContent = String(chat.unread);
    badge.hidden = chat.unread === 0;
    badge.setAttribute('aria-label', `${chat.unread} unread`);
    item.dataset['unread'] = String(chat.unread);
  }

  /** Newest activity first (the API's order), ties by chat id. */
  #reorder(): void {
    const sorted = [...this.#chats.values()].sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : a.chatId < b.chatId ? -1 : 1));
    const items = sorted.map((c) => this.#items.get(c.chatId)).filter((x): x is HTMLElement => x !== undefined);
    // Only when the order changed: moving nodes would restart hover and focus for nothing.
    const current = [...this.o.list.children];
    if (current.length !== items.length || items.some((item, i) => current[i] !== item)) this.o.list.replaceChildren(...items);
    this.o.empty.hidden = items.length > 0;
    this.#title();
  }

  #title(): void {
    let total = 0;
    for (const c of this.#chats.values()) total += c.unread;
    document.title = total > 0 ? `(${total}) ${this.o.title}` : this.o.title;
    document.documentElement.dataset['unreadTotal'] = String(total);
  }
}
