import t from 'tap';
import { chatDecider, countOthersAfter, DEDUPE_WINDOW, MESSAGE_MAX_CHARS } from '../../domain/chat.js';
import type { ChatEvent } from '../../domain/events.js';
import { DEFAULT_EDIT_WINDOW_MS, needsFacts, type MessageFacts } from '../../domain/message-changes.js';
import { givenEvents } from '../support/given-when-then.js';

const chatId = 'alice:bob';
const sentAt = '2026-01-01T00:00:00.000Z';
const later = '2026-01-01T01:00:00.000Z';
const started: ChatEvent = { type: 'ChatStarted', version: 1, data: { chatId, participants: ['alice', 'bob'], startedBy: 'alice', at: sentAt } };
const sent: ChatEvent = { type: 'MessageSent', version: 2, data: { chatId, messageId: 'm1', senderId: 'alice', clientMessageId: 'c1', body: 'helo', sentAt } };
const edit = (over: Partial<{ editorId: string; messageId: string; clientEditId: string; body: string; at: string; editWindowMs: number }> = {}) => ({
  type: 'EditMessage' as const, chatId, messageId: 'm1', editorId: 'alice', clientEditId: 'e1', body: ' hello ', at: later, editWindowMs: DEFAULT_EDIT_WINDOW_MS, ...over,
});
const del = (over: Partial<{ deleterId: string; messageId: string; clientDeleteId: string }> = {}) => ({
  type: 'DeleteMessage' as const, chatId, messageId: 'm1', deleterId: 'alice', clientDeleteId: 'd1', at: later, ...over,
});
const edited: ChatEvent = { type: 'MessageEdited', version: 1, data: { chatId, messageId: 'm1', senderId: 'alice', clientEditId: 'e1', body: 'hello', editedAt: later } };
const deleted: ChatEvent = { type: 'MessageDeleted', version: 1, data: { chatId, messageId: 'm1', senderId: 'alice', clientDeleteId: 'd1', deletedAt: later } };

t.test('EditMessage: the sender edits their own message, body trimmed', async (t) => {
  givenEvents(chatDecider, [started, sent]).when(edit()).thenEvents(t, [edited]);
  givenEvents(chatDecider, [started, sent, edited]).when(edit({ clientEditId: 'e2', body: 'again' })).thenEvents(t, [{
    type: 'MessageEdited', version: 1, data: { chatId, messageId: 'm1', senderId: 'alice', clientEditId: 'e2', body: 'again', editedAt: later },
  }], 'an edited message can be edited again');
});

t.test('EditMessage: a repeated clientEditId is answered as done, with no event', async (t) => {
  givenEvents(chatDecider, [started, sent, edited]).when(edit()).thenEvents(t, []);
  givenEvents(chatDecider, [started, sent, edited]).when(edit({ body: 'different text' })).thenEvents(t, [], 'the id decides, not the body');
  givenEvents(chatDecider, [started, sent, edited, deleted]).when(edit()).thenEvents(t, [], 'a retry after the delete is still the edit that was done');
  // The other participant presenting the sender's clientEditId is refused, not told it was done.
  givenEvents(chatDecider, [started, sent, edited]).when(edit({ editorId: 'bob' })).thenError(t, 'NOT_MESSAGE_SENDER');
});

t.test('EditMessage: refusals', async (t) => {
  givenEvents(chatDecider, [started, sent]).when(edit({ editorId: 'bob' })).thenError(t, 'NOT_MESSAGE_SENDER');
  givenEvents(chatDecider, [started, sent]).when(edit({ editorId: 'mallory' })).thenError(t, 'NOT_A_PARTICIPANT');
  givenEvents(chatDecider, [started, sent]).when(edit({ messageId: 'nope' })).thenError(t, 'MESSAGE_NOT_FOUND');
  givenEvents(chatDecider, []).when(edit()).thenError(t, 'CHAT_NOT_FOUND');
  givenEvents(chatDecider, [started, sent, deleted]).when(edit({ clientEditId: 'e9' })).thenError(t, 'MESSAGE_DELETED');
  givenEvents(chatDecider, [started, sent]).when(edit({ body: '  \n ' })).thenError(t, 'MESSAGE_EMPTY');
  givenEvents(chatDecider, [started, sent]).when(edit({ body: 'x'.repeat(MESSAGE_MAX_CHARS + 1) })).thenError(t, 'MESSAGE_TOO_LONG');
  givenEvents(chatDecider, [started, sent]).when(edit({ body: 'a\u0000b' })).thenError(t, 'MESSAGE_INVALID_CHARACTERS');
  for (const bad of ['', 'x'.repeat(65), 'has space']) {
    givenEvents(chatDecider, [started, sent]).when(edit({ clientEditId: bad })).thenError(t, 'CLIENT_MESSAGE_ID_INVALID');
  }
});

t.test('EditMessage: only within the edit window after sending', async (t) => {
  const at = (ms: number): string => new Date(Date.parse(sentAt) + ms).toISOString();
  givenEvents(chatDecider, [started, sent]).when(edit({ at: at(DEFAULT_EDIT_WINDOW_MS) })).thenEvents(t, [{
    type: 'MessageEdited', version: 1, data: { chatId, messageId: 'm1', senderId: 'alice', clientEditId: 'e1', body: 'hello', editedAt: at(DEFAULT_EDIT_WINDOW_MS) },
  }], 'exactly 24 h after is still allowed');
  givenEvents(chatDecider, [started, sent]).when(edit({ at: at(DEFAULT_EDIT_WINDOW_MS + 1) })).thenError(t, 'EDIT_WINDOW_PASSED');
  givenEvents(chatDecider, [started, sent]).when(edit({ at: at(61_000), editWindowMs: 60_000 })).thenError(t, 'EDIT_WINDOW_PASSED');
});

t.test('DeleteMessage: the sender deletes their own message; a retry is done, another delete refused', async (t) => {
  givenEvents(chatDecider, [started, sent]).when(del()).thenEvents(t, [deleted]);
  givenEvents(chatDecider, [started, sent, edited]).when(del()).thenEvents(t, [deleted], 'an edited message too');
  givenEvents(chatDecider, [started, sent, deleted]).when(del()).thenEvents(t, [], 'the same clientDeleteId again: nothing more');
  givenEvents(chatDecider, [started, sent, deleted]).when(del({ clientDeleteId: 'd2' })).thenError(t, 'MESSAGE_DELETED');
  const old = givenEvents(chatDecider, [started, sent]);
  old.when({ ...del(), at: '2030-01-01T00:00:00.000Z' }).thenEvents(t, [{ ...deleted, data: { ...deleted.data, deletedAt: '2030-01-01T00:00:00.000Z' } } as ChatEvent], 'no time limit');
});

t.test('DeleteMessage: refusals', async (t) => {
  givenEvents(chatDecider, [started, sent]).when(del({ deleterId: 'bob' })).thenError(t, 'NOT_MESSAGE_SENDER');
  givenEvents(chatDecider, [started, sent]).when(del({ deleterId: 'mallory' })).thenError(t, 'NOT_A_PARTICIPANT');
  givenEvents(chatDecider, [started, sent]).when(del({ messageId: 'nope' })).thenError(t, 'MESSAGE_NOT_FOUND');
  givenEvents(chatDecider, []).when(del()).thenError(t, 'CHAT_NOT_FOUND');
  givenEvents(chatDecider, [started, sent]).when(del({ clientDeleteId: 'a b' })).thenError(t, 'CLIENT_MESSAGE_ID_INVALID');
});

t.test('the state weighs its messages and edit ids too (the cache budget counts them)', async (t) => {
  const { state } = givenEvents(chatDecider, [started, sent, edited]);
  t.equal(chatDecider.weight!(state), 1 + 1 + 1 + 1);
});

// The state keeps the last DEDUPE_WINDOW messages only: an older message's facts come with the command.
const many = (n: number, from = 2): ChatEvent[] => Array.from({ length: n }, (_, i) => ({
  type: 'MessageSent', version: 2, data: { chatId, messageId: `m${from + i}`, senderId: 'bob', clientMessageId: `c${from + i}`, body: 'x', sentAt },
}));
const facts = (over: Partial<MessageFacts> = {}): MessageFacts => ({ senderId: 'alice', sentAtMs: Date.parse(sentAt), ...over });

t.test('the state is bounded: it forgets messages past the window', async (t) => {
  const { state } = givenEvents(chatDecider, [started, sent, ...many(DEDUPE_WINDOW + 50)]);
  t.ok(state.started && state.recentMessages.size === DEDUPE_WINDOW, 'no more than DEDUPE_WINDOW messages remembered');
  t.ok(state.started && !state.recentMessages.has('m1') && state.recentMessages.has(`m${DEDUPE_WINDOW + 51}`), 'the oldest forgotten, the newest kept');
  t.ok(chatDecider.weight!(state) <= 1 + 2 * DEDUPE_WINDOW, 'its weight stays bounded too');
  t.ok(state.started && needsFacts(state, 'm1') && !needsFacts(state, `m${DEDUPE_WINDOW + 51}`), 'the caller is told to load an old message');
});

t.test('an older message is decided on the facts handed in, with the same rules', async (t) => {
  const history = [started, sent, ...many(DEDUPE_WINDOW)];
  givenEvents(chatDecider, history).when(edit()).thenError(t, 'MESSAGE_NOT_FOUND');
  givenEvents(chatDecider, history).when({ ...edit(), target: null }).thenError(t, 'MESSAGE_NOT_FOUND');
  givenEvents(chatDecider, history).when({ ...edit(), target: facts() }).thenEvents(t, [edited], 'edited from its facts');
  givenEvents(chatDecider, history).when({ ...edit({ editorId: 'bob' }), target: facts() }).thenError(t, 'NOT_MESSAGE_SENDER');
  givenEvents(chatDecider, history).when({ ...edit({ at: '2026-01-03T00:00:00.000Z' }), target: facts() }).thenError(t, 'EDIT_WINDOW_PASSED');
  const gone = facts({ deleted: { by: 'd1', revision: 7, position: 8n } });
  givenEvents(chatDecider, history).when({ ...edit(), target: gone }).thenError(t, 'MESSAGE_DELETED');
  givenEvents(chatDecider, history).when({ ...del(), target: facts() }).thenEvents(t, [deleted]);
  givenEvents(chatDecider, history).when({ ...del(), target: gone }).thenEvents(t, [], 'its delete retried: nothing more');
  givenEvents(chatDecider, history).when({ ...del({ clientDeleteId: 'd2' }), target: gone }).thenError(t, 'MESSAGE_DELETED');
  givenEvents(chatDecider, [started, sent]).when({ ...edit(), target: null }).thenEvents(t, [edited], 'a remembered message wins over facts');
});

t.test('unread counts from the state leave deleted messages out', async (t) => {
  const fromBob = (n: number): ChatEvent => ({ type: 'MessageSent', version: 2, data: { chatId, messageId: `b${n}`, senderId: 'bob', clientMessageId: `b${n}`, body: 'x', sentAt } });
  const gone: ChatEvent = { type: 'MessageDeleted', version: 1, data: { chatId, messageId: 'b2', senderId: 'bob', clientDeleteId: 'd', deletedAt: later } };
  // Revisions: 0 started, 1 alice's m1, 2..4 bob's b1..b3, 5 the deletion of b2.
  const { state } = givenEvents(chatDecider, [started, sent, fromBob(1), fromBob(2), fromBob(3), gone]);
  t.equal(countOthersAfter(state, 5, 0, 'alice'), 2, 'b1 and b3: b2 was deleted');
  t.equal(countOthersAfter(state, 5, 2, 'alice'), 1, 'after b1: b3 only');
  t.equal(countOthersAfter(state, 5, 0, 'bob'), 1, 'alice\'s own message for bob');
});
