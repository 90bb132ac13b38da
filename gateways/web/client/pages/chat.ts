/**
 * The chat page. History comes over HTTP (the newest 100, older pages when scrolling up), live
 * messages over the WebSocket, resumed from the newest revision shown; sends go over the socket
 * and stay marked pending until their ack. MessageList shows every revision once, whichever way
 * it arrived.
 */
import { api, ApiError, describeError } from '../api.js';
import { byId, hide, show } from '../dom.js';
import { ChatSocketError, ConnectionBadge, openLive } from '../live.js';
import { MessageList } from '../message-list.js';
import { ReadMarker } from '../read-marker.js';
import { PresenceBook, presenceText, typingThrottle, TypingLine } from '../presence.js';
import { draftKey, loginUrl, requireMe, showSessionEnded } from '../session.js';
import type { HistoryPage, Message, OpenedChat } from '../types.js';
import { MESSAGE_MAX_CHARS as MAX_BODY } from '../../../../domain/chat.js';
import { hasVisibleText } from '../../../../domain/text.js';

const FIRST_PAGE = 100;
const OLDER_PAGE = 50;
/** Within this many pixels of the top, the next older page is fetched. */
const LOAD_MARGIN_PX = 200;
/** Within this many pixels of the bottom, a new message scrolls into view. */
const STICK_MARGIN_PX = 80;

const me = await requireMe();
const chatId = new URLSearchParams(location.search).get('id') ?? '';
/** The page has nothing more to do (it is going away, or shows why it cannot go on): stop here, quietly. */
const halt = (): Promise<never> => new Promise<never>(() => undefined);
if (chatId === '') {
  location.replace('/profile');
  await halt();
}

const scroller = byId('scroller', HTMLDivElement);
const listEl = byId('messages', HTMLOListElement);
const olderButton = byId('load-older', HTMLButtonElement);
const historyStart = byId('history-start', HTMLElement);
const pageError = byId('page-error', HTMLElement);
const form = byId('composer', HTMLFormElement);
const input = byId('message-input', HTMLTextAreaElement);
const composerError = byId('composer-error', HTMLElement);
const composerClosed = byId('composer-closed', HTMLElement);
const badge = new ConnectionBadge(byId('conn-state', HTMLElement));
// Edit and delete from a message's menu go over the socket; the events they cause update the list.
const messages = new MessageList(listEl, me.userId, {
  edit: async (messageId, body) => { await socket.editMessage({ chatId, messageId, body }); },
  remove: async (messageId) => { await socket.deleteMessage({ chatId, messageId }); },
});
const presenceLine = byId('presence', HTMLElement);
const typingLine = new TypingLine(byId('typing', HTMLElement));

// The chat id is the two user ids, sorted: the other one is the title.
const other = chatId.split(':').find((p) => p !== me.userId) ?? chatId;
byId('chat-title', HTMLElement).textContent = other;
/** The page's title; the count of new messages below the screen goes before it. */
const pageTitle = `${other} · Simple Chat`;
document.title = pageTitle;

// ---- presence of the other participant: "online" / "last seen 5 minutes ago" under the title ----
const presence = new PresenceBook(() => {
  const p = presence.get(other);
  const text = presenceText(p);
  presenceLine.dataset['state'] = p === undefined || text === '' ? 'unknown' : p.online ? 'online' : 'offline';
  if (presenceLine.textContent !== text) presenceLine.textContent = text;
});
setInterval(() => presence.refresh(), 30_000);

const nearBottom = (): boolean => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < STICK_MARGIN_PX;
const scrollToBottom = (): void => {
  scroller.scrollTop = scroller.scrollHeight;
};

const showStored = (m: Message): boolean =>
  messages.add({
    revision: m.revision, senderId: m.senderId, clientMessageId: m.clientMessageId, body: m.body, sentAt: m.sentAt,
    messageId: m.messageId, edited: m.editedAt !== null && m.editedAt !== undefined, deleted: m.deleted === true,
  });

// ---- history ----

let nextBefore: number | null = null;
let loadingOlder = false;

const historyUrl = (before?: number, limit = OLDER_PAGE): string =>
  `/api/chats/${encodeURIComponent(chatId)}/messages?limit=${limit}${before === undefined ? '' : `&before=${before}`}`;

function setNextBefore(value: number | null): void {
  nextBefore = value;
  olderButton.hidden = value === null;
  historyStart.hidden = value !== null;
}

async function loadOlder(): Promise<void> {
  if (loadingOlder || nextBefore === null) return;
  loadingOlder = true;
  listEl.setAttribute('aria-busy', 'true');
  try {
    const page = await api<HistoryPage>('GET', historyUrl(nextBefore));
    // Keep what the reader is looking at in place while rows are added above it.
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    for (const m of page.messages) showStored(m);
    scroller.scrollTop = scroller.scrollHeight - fromBottom;
    setNextBefore(page.nextBefore);
  } catch (err) {
    show(pageError, `Older messages could not be loaded: ${describeError(err)}`);
  } finally {
    loadingOlder = false;
    listEl.setAttribute('aria-busy', 'false');
  }
  // A short history may not fill the screen: there is then nothing to scroll, so keep loading.
  if (nextBefore !== null && scroller.scrollHeight <= scroller.clientHeight) void loadOlder();
}

scroller.addEventListener('scroll', () => {
  if (scroller.scrollTop < LOAD_MARGIN_PX) void loadOlder();
  if (nearBottom()) unseen.clear();
}, { passive: true });

/**
 * Messages from the other participant that arrived below the screen while the reader was scrolled up:
 * a button to jump to them, and their count in the title, until the reader is back at the bottom.
 */
const unseen = (() => {
  const button = byId('jump-new', HTMLButtonElement);
  let count = 0;
  const render = (): void => {
    button.hidden = count === 0;
    button.textContent = count === 1 ? '1 new message ↓' : `${count} new messages ↓`;
    document.title = count > 0 ? `(${count}) ${pageTitle}` : pageTitle;
  };
  button.addEventListener('click', () => {
    scrollToBottom();
    clear();
    input.focus();
  });
  function clear(): void {
    if (count === 0) return;
    count = 0;
    render();
  }
  return { add: (): void => { count++; render(); }, clear };
})();
olderButton.addEventListener('click', () => void loadOlder());

/** Where my mark stood when the history was read: not sent again. */
let myReadFromHistory = 0;

/**
 * The unsent draft, kept for this tab (sessionStorage) per user and chat: a reload, or a session that
 * ended and the same user's login again, gives it back instead of losing it. Log out clears every
 * draft, and another user's login in the tab clears the last one's (session.ts).
 */
const drafts = {
  key: draftKey(me.userId, chatId),
  restore(): void {
    const saved = sessionStorage.getItem(this.key);
    if (saved !== null && input.value === '') {
      input.value = saved;
      fitInput();
    }
  },
  save(): void {
    if (input.value.trim() === '') sessionStorage.removeItem(this.key);
    else sessionStorage.setItem(this.key, input.value);
  },
};

async function openChat(): Promise<number> {
  // Recorded in the activity log; it also tells a missing chat (404) from someone else's (403).
  const [opened, first] = await Promise.all([
    api<OpenedChat>('POST', `/api/chats/${encodeURIComponent(chatId)}/open`),
    api<HistoryPage>('GET', historyUrl(undefined, FIRST_PAGE)),
  ]);
  if (opened.otherErased) closeComposer();
  else drafts.restore();
  for (const m of first.messages) showStored(m);
  messages.setTheirRead(first.reads[other] ?? 0);
  myReadFromHistory = first.reads[me.userId] ?? 0;
  setNextBefore(first.nextBefore);
  listEl.setAttribute('aria-busy', 'false');
  scrollToBottom();
  if (nextBefore !== null && scroller.scrollHeight <= scroller.clientHeight) void loadOlder();
  // Revision 0 is ChatStarted: with no message yet, resume after it.
  return first.messages.reduce((max, m) => Math.max(max, m.revision), 0);
}

let newest = 0; // set by openChat below; a failure halts the page
try {
  newest = await openChat();
} catch (err) {
  if (err instanceof ApiError && err.status === 401) {
    location.replace(loginUrl());
    await halt();
  }
  // A link someone mistyped or cut short is refused by the API's schema (VALIDATION_FAILED): not worth its details.
  const text = err instanceof ApiError && (err.code === 'CHAT_NOT_FOUND' || err.code === 'NOT_A_PARTICIPANT' || err.code === 'VALIDATION_FAILED')
    ? 'This chat does not exist or is not yours.'
    : `The chat could not be opened: ${describeError(err)}`;
  show(pageError, text);
  form.hidden = true;
  // No chat, so neither its name (the link's text) nor a connection state to show.
  byId('chat-title', HTMLElement).textContent = 'Chat';
  document.title = 'Chat · Simple Chat';
  byId('conn-state', HTMLElement).hidden = true;
  await halt();
}

// ---- live ----

const socket = openLive({
  revisions: { [chatId]: newest },
  userId: me.userId,
  onReadState: (id, s) => {
    if (id !== chatId) return;
    messages.setTheirRead(s.theirs);
    marker.known(s.mine);
  },
  onStatus: (status) => {
    badge.update(status);
    // Presence and typing are only as fresh as the socket; the watch is answered again on reconnect.
    if (status === 'closed' || status === 'ended') {
      presence.forget();
      typingLine.clear();
    }
    if (status === 'ended') endSession();
  },
  onTyping: (f) => {
    if (f.chatId === chatId && f.userId === other) typingLine.notice(f);
  },
  onPresence: (f) => presence.apply(f),
  onParticipantErased: (f) => {
    if (f.chatId !== chatId) return;
    closeComposer();
    messages.erasedOther();
  },
  onEvent: (e) => {
    if (e.chatId !== chatId) return;
    const d = e.record.data;
    if (e.record.type === 'MessageEdited') return messages.edited(String(d['messageId']), String(d['body']));
    if (e.record.type === 'MessageDeleted') return messages.deleted(String(d['messageId']));
    if (e.record.type !== 'MessageSent') return;
    typingLine.messageFrom(String(d['senderId']));
    const stick = nearBottom();
    const added = messages.add({
      revision: e.revision,
      senderId: String(d['senderId']),
      clientMessageId: String(d['clientMessageId']),
      body: String(d['body']),
      sentAt: String(d['sentAt'] ?? e.record.createdAt),
      messageId: String(d['messageId']),
      // A backlog blanks a message deleted since; one from the view says it was edited.
      deleted: d['deleted'] === true,
      edited: typeof d['editedAt'] === 'string',
    });
    if (added && (stick || d['senderId'] === me.userId)) scrollToBottom();
    else if (added && !d['deleted']) unseen.add();
    if (added) marker.check();
  },
  onError: (frame) => {
    if (frame.chatId === chatId) show(pageError, frame.message);
  },
});
socket.watch([chatId]);
socket.start().catch(() => undefined); // failures are shown through onStatus

// ---- read receipts: what is on screen, seen, is marked read (read-marker.ts) ----
const marker: ReadMarker = new ReadMarker({
  scroller,
  newest: () => messages.newest,
  atBottom: nearBottom,
  mark: (revision) => socket.markRead(chatId, revision),
});
marker.known(myReadFromHistory);
marker.check();

// The list keeps to its newest message while the person is there, also when it gets shorter (the
// composer grows with a draft, a phone's keyboard opens): the browser keeps the scroll offset, which
// left new messages below the screen, counted unread and never marked read.
let pinned = true;
scroller.addEventListener('scroll', () => { pinned = nearBottom(); }, { passive: true });
new ResizeObserver(() => {
  if (!pinned || nearBottom()) return;
  scrollToBottom();
  marker.check();
}).observe(scroller);

// ---- sending ----

/** The other participant erased their account (docs/privacy.md): the history stays readable, nothing more can be sent. */
function closeComposer(): void {
  disableComposer();
  show(composerClosed, `${other} erased their account; this chat takes no new messages.`);
  // Nobody is behind the name any more: no "online" or "last seen" under it.
  presenceLine.hidden = true;
}

/** The session ended (logout elsewhere, expiry, erasure): nothing more can be sent from this page. */
let sessionEnded = false;
function endSession(): void {
  sessionEnded = true;
  disableComposer();
  messages.failAllPending('your session ended');
  showSessionEnded(pageError);
}

function disableComposer(): void {
  input.disabled = true;
  for (const b of form.querySelectorAll<HTMLButtonElement>('button[type="submit"]')) b.disabled = true;
  input.placeholder = '';
}

let seq = 0;
const newClientMessageId = (): string =>
  `w${Date.now().toString(36)}${(++seq).toString(36)}${Math.random().toString(36).slice(2, 10)}`.slice(0, 64);

function send(): void {
  hide(composerError);
  if (sessionEnded) return;
  const body = input.value;
  if (!hasVisibleText(body)) {
    show(composerError, 'Write something first.');
    return;
  }
  // Counted as the service counts (code points, after trimming), not in UTF-16 units as maxlength would.
  if ([...body.trim()].length > MAX_BODY) {
    show(composerError, `A message can have at most ${MAX_BODY} characters.`);
    return;
  }
  const clientMessageId = newClientMessageId();
  messages.addPending(clientMessageId, body);
  input.value = '';
  drafts.save();
  fitInput();
  scrollToBottom();
  // Not sent yet when the socket is down: the client sends it after the next resume (same id, so at most once).
  socket.send({ chatId, body, clientMessageId }).then(
    (ack) => messages.acked(clientMessageId, ack.revision, ack.messageId),
    (err: unknown) => {
      messages.failed(clientMessageId, err instanceof ChatSocketError ? err.message : describeError(err));
      if (err instanceof ChatSocketError && err.code === 'PARTICIPANT_ERASED') closeComposer();
    },
  );
}

/** The box grows with its text up to its CSS max-height, then scrolls. */
function fitInput(): void {
  input.style.height = 'auto';
  input.style.height = `${input.scrollHeight + 2}px`;
}
input.addEventListener('input', fitInput);
// What the last send said of the draft no longer holds once the person changes it.
input.addEventListener('input', () => {
  hide(composerError);
  drafts.save();
});
// While the person types (not when the box is emptied), at most one notice every few seconds.
const sendTyping = typingThrottle(() => socket.typing(chatId));
input.addEventListener('input', () => { if (input.value.trim() !== '') sendTyping(); });

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  send();
  input.focus();
});
input.addEventListener('keydown', (ev) => {
  // Enter sends; Shift+Enter is a new line; Enter while composing (IME) belongs to the IME.
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    send();
  }
});
input.focus();
