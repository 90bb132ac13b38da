/**
 * The profile page: who I am, a picker to start a chat with an existing user (starting one that
 * exists opens it: POST /api/chats answers with the existing chat), and my chats, newest activity
 * first, with their last message.
 */
import { api, describeError } from '../api.js';
import { byId, el, show } from '../dom.js';
import { timeElement } from '../format.js';
import { userPicker } from '../picker.js';
import { requireMe } from '../session.js';
import type { ChatRef, ChatSummary, MeUser } from '../types.js';

const chatUrl = (chatId: string): string => `/chat?id=${encodeURIComponent(chatId)}`;

const me = await requireMe();
byId('me-greeting', HTMLElement).textContent = me.username;

userPicker({
  input: byId('user-search', HTMLInputElement),
  list: byId('user-results', HTMLUListElement),
  status: byId('picker-status', HTMLElement),
  exclude: me.userId,
  onPick: async (user) => {
    const chat = await api<ChatRef>('POST', '/api/chats', { username: user.username });
    location.assign(chatUrl(chat.chatId));
  },
});

const list = byId('chats', HTMLElement);

function chatItem(chat: ChatSummary, self: MeUser): HTMLAnchorElement {
  const last = chat.lastMessage;
  const lastText = last ? `${last.senderId === self.userId ? 'You' : last.senderId}: ${last.body}` : 'No messages yet';
  return el('a', { className: 'list-group-item list-group-item-action chat-link', attrs: { href: chatUrl(chat.chatId), 'data-chat-id': chat.chatId } }, [
    el('div', { className: 'd-flex justify-content-between gap-2' }, [
      el('strong', { className: 'text-truncate', text: chat.other.username }),
      el('small', { className: 'text-body-secondary text-nowrap' }, [timeElement(last?.sentAt ?? chat.updatedAt)]),
    ]),
    el('div', { className: 'last small text-truncate', text: lastText }),
  ]);
}

async function loadChats(): Promise<void> {
  try {
    const page = await api<{ chats: ChatSummary[] }>('GET', '/api/chats?limit=100');
    list.replaceChildren(...page.chats.map((c) => chatItem(c, me)));
    byId('chats-empty', HTMLElement).hidden = page.chats.length > 0;
  } catch (err) {
    show(byId('page-error', HTMLElement), describeError(err));
  } finally {
    list.setAttribute('aria-busy', 'false');
  }
}

await loadChats();
// Coming back (back button, another tab): the list may have moved on.
window.addEventListener('pageshow', (ev) => { if (ev.persisted) void loadChats(); });
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') void loadChats(); });
