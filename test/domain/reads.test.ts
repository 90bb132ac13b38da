import t from 'tap';
import type { ReadEvent } from '../../domain/events.js';
import { readDecider, type ChatFacts } from '../../domain/reads.js';
import { givenEvents } from '../support/given-when-then.js';

const at = '2026-01-01T00:00:00.000Z';
const chatId = 'alice:bob';
const chat: ChatFacts = { participants: ['alice', 'bob'], newestRevision: 5 };
const mark = (upToRevision: number, over: Partial<{ readerId: string; chat: ChatFacts | null }> = {}) => ({
  type: 'MarkRead' as const, chatId, readerId: 'bob', upToRevision, chat, at, ...over,
});
const read = (upToRevision: number, readerId = 'bob'): ReadEvent => ({ type: 'ChatRead', version: 1, data: { chatId, readerId, upToRevision, at } });

t.test('MarkRead: a participant marks the chat read up to a revision', async (t) => {
  givenEvents(readDecider, []).when(mark(3)).thenEvents(t, [read(3)]);
  givenEvents(readDecider, [read(3)]).when(mark(5)).thenEvents(t, [read(5)], 'further on later');
});

t.test('MarkRead: up to the newest revision, not past it', async (t) => {
  givenEvents(readDecider, []).when(mark(5)).thenEvents(t, [read(5)], 'the newest itself');
  givenEvents(readDecider, []).when(mark(6)).thenError(t, 'READ_REVISION_AHEAD');
  givenEvents(readDecider, [read(2)]).when(mark(99)).thenError(t, 'READ_REVISION_AHEAD');
});

t.test('MarkRead: monotonic and idempotent; at or below the mark changes nothing and is no error', async (t) => {
  givenEvents(readDecider, [read(4)]).when(mark(4)).thenEvents(t, [], 'the same again');
  givenEvents(readDecider, [read(4)]).when(mark(2)).thenEvents(t, [], 'an older one');
  givenEvents(readDecider, []).when(mark(0)).thenEvents(t, [], 'revision 0 (ChatStarted) is where a reader starts');
  const state = givenEvents(readDecider, [read(4), read(2)]).state;
  t.equal(state.upToRevision, 4, 'folding never moves back');
});

t.test('MarkRead: only participants, only existing chats, only whole revisions', async (t) => {
  givenEvents(readDecider, []).when(mark(1, { readerId: 'carol' })).thenError(t, 'NOT_A_PARTICIPANT');
  givenEvents(readDecider, []).when(mark(1, { chat: null })).thenError(t, 'CHAT_NOT_FOUND');
  givenEvents(readDecider, []).when(mark(-1)).thenError(t, 'READ_REVISION_INVALID');
  givenEvents(readDecider, []).when(mark(1.5)).thenError(t, 'READ_REVISION_INVALID');
  givenEvents(readDecider, [read(4)]).when(mark(2, { readerId: 'carol' })).thenError(t, 'NOT_A_PARTICIPANT');
});
