// The command handler's state cache is bounded by what its states weigh, not by how many there are:
// a chat remembering a thousand clientMessageIds must not count as much as a user.
import t from 'tap';
import { chatDecider, DEDUPE_WINDOW, type ChatState } from '../../domain/chat.js';
import { fold } from '../../domain/decider.js';
import type { ChatEvent } from '../../domain/events.js';
import type { RecordedEvent } from '../../commands/ports/event-store.js';
import { StateCache, type Folding } from '../../commands/state-cache.js';

/** A state that is a list: it weighs its length; each recorded event appends its type. */
const lists: Folding<string[]> = { fold: (s, r) => [...s, r.type], weigh: (s) => s.length };
const recorded = (streamId: string, revision: number, type = 'E'): RecordedEvent =>
  ({ id: `${streamId}-${revision}`, streamId, revision, position: BigInt(revision), type, data: {}, metadata: {}, createdAt: new Date(0) });

t.test('the summed weight stays under the budget; least recently used go first', async (t) => {
  const cache = new StateCache(10);
  cache.set('a', { state: ['x', 'x', 'x'], revision: 2 }, lists);
  cache.set('b', { state: ['x', 'x', 'x'], revision: 2 }, lists);
  cache.set('c', { state: ['x', 'x', 'x'], revision: 2 }, lists);
  t.same(cache.size, { streams: 3, weight: 9 });
  cache.get('a'); // used: b is now the oldest
  cache.set('d', { state: ['x', 'x'], revision: 1 }, lists);
  t.same(cache.size, { streams: 3, weight: 8 }, 'one entry dropped to make room');
  t.equal(cache.get('b'), undefined, 'the least recently used one');
  t.ok(cache.get('a') && cache.get('c') && cache.get('d'));
});

t.test('a state that grows through the log pushes others out; an empty state still weighs 1', async (t) => {
  const cache = new StateCache(6);
  cache.set('a', { state: [], revision: -1 }, lists);
  cache.set('b', { state: ['x'], revision: 0 }, lists);
  t.same(cache.size, { streams: 2, weight: 2 });
  for (let r = 1; r <= 5; r++) cache.observe(recorded('b', r));
  const b = cache.get<string[]>('b');
  t.same([b?.state, b?.revision], [['x', 'E', 'E', 'E', 'E', 'E'], 5], 'folded event by event');
  t.equal(cache.get('a'), undefined, 'the other entry made way');
  t.same(cache.size, { streams: 1, weight: 6 });
  cache.observe(recorded('b', 6));
  t.same(cache.size, { streams: 1, weight: 7 }, 'one entry alone over the budget stays (a command is using it)');
  cache.delete('b');
  t.same(cache.size, { streams: 0, weight: 0 });
});

t.test('replacing an entry counts its new weight only; an older state never replaces a newer one', async (t) => {
  const cache = new StateCache(100);
  cache.set('a', { state: ['x', 'x'], revision: 1 }, lists);
  cache.set('a', { state: ['x', 'x', 'x'], revision: 2 }, lists);
  t.same(cache.size, { streams: 1, weight: 3 });
  cache.set('a', { state: ['x'], revision: 0 }, lists); // read before the log moved the entry on
  t.equal(cache.get('a')?.revision, 2, 'the newer state stays');
  t.same(cache.size, { streams: 1, weight: 3 });
});

// Edit and delete need each message's sender and state for as long as the chat lives, so a chat
// weighs one, plus its remembered clientMessageIds (at most the window), plus one per message.
t.test('a chat weighs one plus the clientMessageIds and the messages it remembers (each at most the window)', async (t) => {
  const chatId = 'alice:bob';
  const at = '2026-01-01T00:00:00.000Z';
  const events: ChatEvent[] = [{ type: 'ChatStarted', version: 1, data: { chatId, participants: ['alice', 'bob'], startedBy: 'alice', at } }];
  for (let i = 0; i < DEDUPE_WINDOW + 50; i++) {
    events.push({ type: 'MessageSent', version: 2, data: { chatId, messageId: `m${i}`, senderId: 'alice', clientMessageId: `c${i}`, body: 'b', sentAt: at } });
  }
  const state = (n: number): ChatState => fold(chatDecider, events.slice(0, n).map((event, revision) => ({ event, meta: { revision, position: BigInt(revision) } })));
  t.equal(chatDecider.weight!(chatDecider.initialState), 1, 'not started');
  t.equal(chatDecider.weight!(state(1)), 1, 'started, nothing sent');
  t.equal(chatDecider.weight!(state(11)), 1 + 10 + 10, 'ten messages: ten ids and ten messages');
  t.equal(chatDecider.weight!(state(events.length)), 1 + DEDUPE_WINDOW + DEDUPE_WINDOW, 'ids and messages both capped by the window: a chat\'s weight is bounded');
});

t.test('a state heavier than the whole budget is still cached, alone', async (t) => {
  const cache = new StateCache(4);
  cache.set('a', { state: ['x'], revision: 0 }, lists);
  cache.set('b', { state: ['x', 'x', 'x', 'x', 'x', 'x'], revision: 5 }, lists);
  t.same(cache.size, { streams: 1, weight: 6 });
  t.equal(cache.get<string[]>('b')?.revision, 5, 'the newest entry stays: a command is using it');
  cache.set('c', { state: ['x'], revision: 0 }, lists);
  t.same(cache.size, { streams: 1, weight: 1 }, 'and goes first once another one comes');
  t.equal(cache.get('b'), undefined);
});

t.test('an event folded in from the log does not count as a use', async (t) => {
  const cache = new StateCache(4);
  cache.set('a', { state: ['x'], revision: 0 }, lists);
  cache.set('b', { state: ['x'], revision: 0 }, lists);
  cache.observe(recorded('a', 1)); // a grows, but stays the least recently used
  t.same(cache.size, { streams: 2, weight: 3 });
  cache.set('c', { state: ['x', 'x'], revision: 1 }, lists);
  t.equal(cache.get('a'), undefined, 'the entry only the log touched went first');
  t.same(cache.size, { streams: 2, weight: 3 });
});
