// The typed client's read state (gateways/ws/client/read-state.ts): receipts only move forward, an
// `unread` count covers messages up to its `through` and events after it are added, my own read
// clears what it covers at once, a stale count never replaces a newer one.
import t from 'tap';
import { ReadTracker, type ChatReadState } from '../../gateways/ws/client/read-state.js';
import type { EventFrame } from '../../gateways/ws/protocol.js';

const chatId = 'alice:bob';
const msg = (revision: number, senderId: string): EventFrame => ({
  type: 'event', chatId, revision,
  record: { id: `m${revision}`, streamId: `chat-${chatId}`, revision, position: String(revision), type: 'MessageSent', version: 2, data: { senderId }, createdAt: '2026-01-01T00:00:00Z' },
});

t.test('bob\'s view of a chat with alice', async (t) => {
  const seen: ChatReadState[] = [];
  const r = new ReadTracker('bob', (_id, s) => seen.push(s));
  r.seed(chatId, { mine: 1, theirs: 0, unread: 2, through: 3 });
  t.same(r.state(chatId), { mine: 1, theirs: 0, unread: 2 });
  r.onEvent(msg(4, 'alice'));
  r.onEvent(msg(5, 'bob'));
  t.same(r.state(chatId).unread, 3, 'alice\'s new message counts; my own does not');
  r.onUnread({ type: 'unread', chatId, count: 1, through: 2 });
  t.same(r.state(chatId).unread, 3, 'an older count is ignored');
  r.onReceipt({ type: 'receipt', chatId, userId: 'bob', upToRevision: 5 });
  t.same(r.state(chatId), { mine: 5, theirs: 0, unread: 0 }, 'reading to the end clears it at once');
  r.onReceipt({ type: 'receipt', chatId, userId: 'alice', upToRevision: 5 });
  r.onReceipt({ type: 'receipt', chatId, userId: 'alice', upToRevision: 4 });
  t.equal(r.state(chatId).theirs, 5, 'receipts never move back');
  r.onEvent(msg(6, 'alice'));
  r.onEvent(msg(7, 'alice'));
  r.onUnread({ type: 'unread', chatId, count: 1, through: 6 });
  t.same(r.state(chatId).unread, 2, 'a count through 6 plus the message at 7 it could not see');
  t.ok(seen.length > 0, 'changes were reported');
});
