/**
 * The profile page: who I am, a picker to start a chat with an existing user (starting one that
 * exists opens it: POST /api/chats answers with the existing chat), and my chats, newest activity
 * first, with their last message and whether the other person is online (over a WebSocket that
 * watches their presence).
 */
import { api, ApiError, describeError } from '../api.js';
import { LiveChatList } from '../chat-list.js';
import { byId, el, show } from '../dom.js';
import { FormErrors, onSubmit } from '../form-errors.js';
import { timeElement } from '../format.js';
import { ConnectionBadge, openLive } from '../live.js';
import { userPicker } from '../picker.js';
import { PresenceBook, presenceText } from '../presence.js';
import { clearDrafts, requireMe, showSessionEnded } from '../session.js';
import type { ChatListPage, ChatRef, ChatSummary, MeUser } from '../types.js';

const chatUrl = (chatId: string): string => `/chat?id=${encodeURIComponent(chatId)}`;

// ---- erasing my account (DELETE /api/me, the password asked again; docs/privacy.md) ----
// Wired before anything is awaited, so that a submit is never left to the browser (it would post the password to this page).
const eraseForm = byId('erase-form', HTMLFormElement);
const erasePassword = byId('erase-password', HTMLInputElement);
const eraseConfirm = byId('erase-confirm', HTMLInputElement);
const eraseErrors = new FormErrors(eraseForm, 'erase-error');
onSubmit(eraseForm, eraseErrors, () => {
  if (erasePassword.value === '') eraseErrors.field('password', 'Enter your password.');
  if (!eraseConfirm.checked) eraseErrors.field('confirm', 'Tick this to confirm.');
}, async () => {
  await api('DELETE', '/api/me', { password: erasePassword.value }).catch((err: unknown) => {
    // Only the password was asked for here: the API's "username or password" would puzzle.
    throw err instanceof ApiError && err.code === 'INVALID_CREDENTIALS' ? new ApiError(err.status, err.code, 'Wrong password.', err.details, err.retryAfterSec) : err;
  });
  // Every session has ended, this one too: nothing of the account is left to show, nor kept in the tab.
  clearDrafts();
  location.replace('/login?erased=1');
});

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

// ---- presence of the people in my chats ----
const presence = new PresenceBook(() => {
  for (const node of list.querySelectorAll<HTMLElement>('.presence[data-user]')) showPresence(node);
});
function showPresence(node: HTMLElement): void {
  const p = presence.get(node.dataset['user'] ?? '');
  const text = presenceText(p);
  node.dataset['state'] = p === undefined || text === '' ? 'unknown' : p.online ? 'online' : 'offline';
  if (node.textContent !== text) node.textContent = text;
}
// ---- the live list: new messages, new chats, unread badges (chat-list.ts) ----
const chats = new LiveChatList({
  list, empty: byId('chats-empty', HTMLElement), me, title: document.title,
  render: (c) => chatItem(c, me),
  rendered: (item) => { for (const node of item.querySelectorAll<HTMLElement>('.presence[data-user]')) showPresence(node); },
});
// Every chat in the list is followed from its last message (loadChats), so resumes bring what was missed.
const connection = new ConnectionBadge(byId('conn-state', HTMLElement));
const socket = openLive({
  revisions: {},
  userId: me.userId,
  onPresence: (f) => presence.apply(f),
  onParticipantErased: (f) => chats.onParticipantErased(f.chatId),
  // Only as fresh as the socket: nothing is shown while it is down; the watch is answered again on reconnect.
  onStatus: (status) => {
    // The list is only as fresh as the socket: say when it is not live (as the chat page does).
    connection.update(status);
    if (status === 'closed' || status === 'ended') presence.forget();
    if (status === 'ended') showSessionEnded(byId('page-error', HTMLElement));
  },
  onEvent: (e) => { if (chats.onEvent(e)) socket.watch(chats.chatIds()); },
  onReadState: (chatId, s) => chats.onReadState(chatId, s),
});
socket.start().catch(() => undefined); // without a socket the list simply shows no presence
setInterval(() => presence.refresh(), 30_000);

function chatItem(chat: ChatSummary, self: MeUser): HTMLAnchorElement {
  const last = chat.lastMessage;
  // An empty body that is not a deletion is an erased sender's (docs/privacy.md): a sent body is never empty.
  const lastBody = last?.deleted ? 'message deleted' : last?.body === '' ? 'message erased' : last?.edited ? `${last.body} (edited)` : last?.body;
  // A one-to-one chat's title already names the other person: only my own last message says who.
  const lastText = last ? (last.senderId === self.userId ? `You: ${lastBody}` : lastBody) : 'No messages yet';
  return el('a', { className: 'list-group-item list-group-item-action chat-link', attrs: { href: chatUrl(chat.chatId), 'data-chat-id': chat.chatId } }, [
    el('div', { className: 'd-flex justify-content-between gap-2' }, [
      // The name gives way (ellipsis) so that the badge and presence stay visible on a narrow screen.
      el('span', { className: 'chat-name-line d-flex align-items-center' }, [
        el('strong', { className: 'text-truncate', text: chat.other.username }),
        // Nobody is behind an erased account's name: no presence, and a word instead.
        chat.otherErased
          ? el('small', { className: 'erased ms-2 text-body-secondary fst-italic', text: 'account erased' })
          : el('small', { className: 'presence ms-2 text-body-secondary', attrs: { 'data-user': chat.other.userId, 'data-state': 'unknown' } }),
      ]),
      el('small', { className: 'text-body-secondary text-nowrap' }, [timeElement(last?.sentAt ?? chat.updatedAt)]),
    ]),
    el('div', { className: 'last small text-truncate', text: lastText }),
  ]);
}

/** As many chats as one socket follows live (the gateway's `resume` takes 1000): the newest ones. */
const MAX_CHATS = 1000;

/** Every page of my chats up to MAX_CHATS, each chat once (one that moved up between pages is already listed). */
async function fetchChats(): Promise<ChatListPage> {
  const first = await api<ChatListPage>('GET', '/api/chats?limit=100');
  const all = new Map(first.chats.map((c) => [c.chatId, c]));
  let cursor = first.nextCursor;
  while (cursor !== null && all.size < MAX_CHATS) {
    const next = await api<ChatListPage>('GET', `/api/chats?limit=100&cursor=${encodeURIComponent(cursor)}`);
    for (const c of next.chats) if (!all.has(c.chatId)) all.set(c.chatId, c);
    cursor = next.nextCursor;
  }
  return { chats: [...all.values()].slice(0, MAX_CHATS), nextCursor: cursor, unreadTotal: first.unreadTotal };
}

async function loadChats(): Promise<void> {
  try {
    const page = await fetchChats();
    chats.load(page);
    for (const c of page.chats) {
      const through = c.lastMessage?.revision ?? 0;
      // The socket's read state is newer than a read model's once it has one: only a first sight seeds it.
      if (socket.readState?.has(c.chatId)) chats.onReadState(c.chatId, socket.readState.state(c.chatId));
      else socket.readState?.seed(c.chatId, { mine: c.readUpTo, theirs: c.otherReadUpTo, unread: c.unread, through });
      socket.follow(c.chatId, through);
    }
    socket.watch(page.chats.map((c) => c.chatId));
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
