import t from 'tap';
import { chatDecider, DEDUPE_WINDOW, findSentMessage, MESSAGE_MAX_CHARS } from '../../domain/chat.js';
import { chatIdFor } from '../../domain/chat-id.js';
import type { ChatEvent } from '../../domain/events.js';
import { givenEvents } from '../support/given-when-then.js';

const at = '2026-01-01T00:00:00.000Z';
const chatId = chatIdFor('bob', 'alice');
const started: ChatEvent = { type: 'ChatStarted', version: 1, data: { chatId, participants: ['alice', 'bob'], startedBy: 'bob', at } };
const start = { type: 'StartChat' as const, chatId, initiatorId: 'bob', otherId: 'alice', initiatorExists: true, otherExists: true, at };
const send = (over: Partial<{ senderId: string; body: string; clientMessageId: string; messageId: string }> = {}) => ({
  type: 'SendMessage' as const, chatId, messageId: 'm1', senderId: 'alice', clientMessageId: 'c1', body: 'hello', at, ...over,
});
const sent = (i: number, senderId = 'alice'): ChatEvent => ({
  type: 'MessageSent', version: 2, data: { chatId, messageId: `m${i}`, senderId, clientMessageId: `c${i}`, body: `b${i}`, sentAt: at },
});

t.test('chat id: the sorted pair, the same from either side', async (t) => {
  t.equal(chatIdFor('bob', 'alice'), 'alice:bob');
  t.equal(chatIdFor('alice', 'bob'), 'alice:bob');
});

t.test('StartChat: creates the chat with sorted participants', async (t) => {
  givenEvents(chatDecider, []).when(start).thenEvents(t, [started]);
});

t.test('StartChat: starting again returns the existing chat without an event', async (t) => {
  givenEvents(chatDecider, [started]).when(start).thenEvents(t, []);
  givenEvents(chatDecider, [started]).when({ ...start, initiatorId: 'alice', otherId: 'bob' }).thenEvents(t, [], 'from the other side too');
});

t.test('StartChat: not with oneself, and both users must exist', async (t) => {
  givenEvents(chatDecider, []).when({ ...start, otherId: 'bob' }).thenError(t, 'CHAT_WITH_SELF');
  givenEvents(chatDecider, []).when({ ...start, otherExists: false }).thenError(t, 'USER_NOT_FOUND');
  givenEvents(chatDecider, []).when({ ...start, initiatorExists: false }).thenError(t, 'USER_NOT_FOUND');
});

t.test('StartChat: no new chat with an erased account; an existing one still opens', async (t) => {
  givenEvents(chatDecider, []).when({ ...start, otherErased: true }).thenError(t, 'USER_ERASED');
  givenEvents(chatDecider, [started]).when({ ...start, otherErased: true }).thenEvents(t, [], 'the chat they had opens, erased messages and all');
});

t.test('SendMessage: none into a chat whose other participant was erased; a retry of a stored one still answers', async (t) => {
  givenEvents(chatDecider, [started]).when({ ...send(), recipientErased: true }).thenError(t, 'PARTICIPANT_ERASED');
  givenEvents(chatDecider, [started, sent(1)]).when({ ...send({ clientMessageId: 'c1' }), recipientErased: true }).thenEvents(t, [], 'the first message is found, nothing appended');
  givenEvents(chatDecider, [started]).when({ ...send({ senderId: 'mallory' }), recipientErased: true }).thenError(t, 'NOT_A_PARTICIPANT');
});

t.test('SendMessage: a participant sends a trimmed message', async (t) => {
  givenEvents(chatDecider, [started]).when(send({ body: '  hello  ' }))
    .thenEvents(t, [{ type: 'MessageSent', version: 2, data: { chatId, messageId: 'm1', senderId: 'alice', clientMessageId: 'c1', body: 'hello', sentAt: at } }]);
});

t.test('SendMessage: refused for non-participants, unknown chats, bad bodies and ids', async (t) => {
  givenEvents(chatDecider, [started]).when(send({ senderId: 'mallory' })).thenError(t, 'NOT_A_PARTICIPANT');
  givenEvents(chatDecider, []).when(send()).thenError(t, 'CHAT_NOT_FOUND');
  givenEvents(chatDecider, [started]).when(send({ body: '   \n\t ' })).thenError(t, 'MESSAGE_EMPTY');
  // Nothing visible: zero-width space, joiners, word joiner, bidi marks, a variation selector, the Hangul filler, the blank Braille pattern.
  for (const invisible of ['\u200b', ' \u200b\u200c\u200d ', '\u2060\u200e\u200f', '\ufe0f', '\u3164', '\u00ad', '\u2800', ' \u2800\u2800 ']) {
    givenEvents(chatDecider, [started]).when(send({ body: invisible })).thenError(t, 'MESSAGE_EMPTY');
  }
  givenEvents(chatDecider, [started]).when(send({ body: '👩\u200d💻' })).thenEvents(t, [{
    type: 'MessageSent', version: 2, data: { chatId, messageId: 'm1', senderId: 'alice', clientMessageId: 'c1', body: '👩\u200d💻', sentAt: at },
  }], 'a joiner between visible characters is text');
  givenEvents(chatDecider, [started]).when(send({ body: 'x'.repeat(MESSAGE_MAX_CHARS + 1) })).thenError(t, 'MESSAGE_TOO_LONG');
  givenEvents(chatDecider, [started]).when(send({ body: 'x'.repeat(MESSAGE_MAX_CHARS) })).thenEvents(t, [{
    type: 'MessageSent', version: 2, data: { chatId, messageId: 'm1', senderId: 'alice', clientMessageId: 'c1', body: 'x'.repeat(MESSAGE_MAX_CHARS), sentAt: at },
  }], 'exactly the maximum is accepted');
  givenEvents(chatDecider, [started]).when(send({ body: '😀'.repeat(MESSAGE_MAX_CHARS) })).thenEvents(t, [{
    type: 'MessageSent', version: 2, data: { chatId, messageId: 'm1', senderId: 'alice', clientMessageId: 'c1', body: '😀'.repeat(MESSAGE_MAX_CHARS), sentAt: at },
  }], 'length counted in characters');
  for (const bad of ['a\u0000b', '\u0000', 'x\ud800', '\udc00x', 'x\udbff\udbffy']) {
    givenEvents(chatDecider, [started]).when(send({ body: bad })).thenError(t, 'MESSAGE_INVALID_CHARACTERS');
  }
  givenEvents(chatDecider, [started]).when(send({ body: 'pair \ud83d\ude00 and U+FFFD \ufffd' })).thenEvents(t, [{
    type: 'MessageSent', version: 2, data: { chatId, messageId: 'm1', senderId: 'alice', clientMessageId: 'c1', body: 'pair \ud83d\ude00 and U+FFFD \ufffd', sentAt: at },
  }], 'a surrogate pair and U+FFFD are ordinary text');
  for (const bad of ['', 'x'.repeat(65), 'has space', '<script>']) {
    givenEvents(chatDecider, [started]).when(send({ clientMessageId: bad })).thenError(t, 'CLIENT_MESSAGE_ID_INVALID');
  }
});

t.test('SendMessage: the same clientMessageId again appends nothing and finds the first message', async (t) => {
  const g = givenEvents(chatDecider, [started, sent(1)]);
  g.when(send({ clientMessageId: 'c1', messageId: 'other', body: 'different' })).thenEvents(t, []);
  t.match(findSentMessage(g.state, 'alice', 'c1'), { messageId: 'm1', revision: 1 });
  t.equal(findSentMessage(g.state, 'bob', 'c1'), undefined, 'keyed per sender');
  givenEvents(chatDecider, [started, sent(1)]).when(send({ senderId: 'bob', clientMessageId: 'c1', messageId: 'm9' }))
    .thenEvents(t, [{ type: 'MessageSent', version: 2, data: { chatId, messageId: 'm9', senderId: 'bob', clientMessageId: 'c1', body: 'hello', sentAt: at } }], 'another sender may reuse the id');
});

t.test('SendMessage: the de-duplication window is bounded', async (t) => {
  const history = [started, ...Array.from({ length: DEDUPE_WINDOW + 5 }, (_, i) => sent(i))];
  const { state } = givenEvents(chatDecider, history);
  t.equal(findSentMessage(state, 'alice', 'c0'), undefined, 'the oldest id fell out of the window');
  t.ok(findSentMessage(state, 'alice', `c${DEDUPE_WINDOW + 4}`), 'the newest is remembered');
  t.equal(state.started && state.recentClientIds.size, DEDUPE_WINDOW);
});
