// The reads projection through the projection kit: read positions only move up, unread counts are
// the other participant's messages beyond the position, whatever the delivery order.
import t from 'tap';
import type { DomainEvent } from '../../domain/events.js';
import { readsProjection } from '../../projections/reads.js';
import { projectionKit } from '../support/projection-kit.js';
import { chatRead, chatStarted, m, messageSent } from './kit-events.js';

const msg = (n: number, senderId: string, chatId = 'alice:bob') =>
  messageSent({ chatId, senderId, body: `b${n}`, sentAt: `2026-01-01T00:00:0${n}Z`, messageId: m(n) });

t.test('reads', async (t) => {
  const { given } = projectionKit(t, readsProjection);

  // The kit numbers revisions per stream in log order: ChatStarted 0, then messages 1..4.
  await given([
    chatStarted('alice', 'bob', '2026-01-01T00:00:00Z'),
    msg(1, 'alice'), msg(2, 'alice'), msg(3, 'bob'), msg(4, 'alice'),
    chatRead('alice:bob', 'bob', 2, '2026-01-01T00:01:00Z'),
    chatRead('alice:bob', 'bob', 1, '2026-01-01T00:02:00Z'),
  ]).then({
    read_positions: [
      { chat_id: 'alice:bob', user_id: 'alice', up_to_revision: 0, read_at: null, unread: 1 },
      { chat_id: 'alice:bob', user_id: 'bob', up_to_revision: 2, read_at: '2026-01-01T00:01:00Z', unread: 1 },
    ],
    unread_messages: [
      { chat_id: 'alice:bob', user_id: 'alice', revision: 3, message_id: m(3) },
      { chat_id: 'alice:bob', user_id: 'bob', revision: 4, message_id: m(4) },
    ],
  }, 'a position never moves back; only the other side\'s messages beyond it are unread');

  await given([
    chatStarted('alice', 'bob', '2026-01-01T00:00:00Z'),
    msg(1, 'alice'), msg(2, 'alice'),
    chatRead('alice:bob', 'bob', 2, '2026-01-01T00:01:00Z'),
    chatStarted('carol', 'bob', '2026-01-01T00:00:00Z'),
    msg(3, 'carol', 'bob:carol'),
  ]).then({
    read_positions: [
      { chat_id: 'alice:bob', user_id: 'bob', up_to_revision: 2, read_at: '2026-01-01T00:01:00Z', unread: 0 },
      { chat_id: 'bob:carol', user_id: 'bob', up_to_revision: 0, read_at: null, unread: 1 },
    ],
    unread_messages: [{ chat_id: 'bob:carol', user_id: 'bob', revision: 1, message_id: m(3) }],
  }, 'read to the end clears the count; each chat counts on its own');

  const deleted = (n: number, senderId: string): DomainEvent =>
    ({ type: 'MessageDeleted', version: 1, data: { chatId: 'alice:bob', messageId: m(n), senderId, clientDeleteId: `d${n}`, deletedAt: '2026-01-01T00:03:00Z' } });
  // The kit also applies these in reverse order, one per batch: a deletion delivered before its message.
  await given([
    chatStarted('alice', 'bob', '2026-01-01T00:00:00Z'),
    msg(1, 'alice'), msg(2, 'alice'), msg(3, 'bob'), msg(4, 'alice'),
    chatRead('alice:bob', 'bob', 1, '2026-01-01T00:01:00Z'),
    deleted(2, 'alice'), deleted(3, 'bob'), deleted(1, 'alice'),
  ]).then({
    read_positions: [
      { chat_id: 'alice:bob', user_id: 'alice', up_to_revision: 0, read_at: null, unread: 0 },
      { chat_id: 'alice:bob', user_id: 'bob', up_to_revision: 1, read_at: '2026-01-01T00:01:00Z', unread: 1 },
    ],
    unread_messages: [{ chat_id: 'alice:bob', user_id: 'bob', revision: 4, message_id: m(4) }],
    read_deleted_messages: [
      { chat_id: 'alice:bob', message_id: m(1) }, { chat_id: 'alice:bob', message_id: m(2) }, { chat_id: 'alice:bob', message_id: m(3) },
    ],
  }, 'a deleted message is not unread, whether its deletion comes after its message or before it');

  await given([chatRead('alice:bob', 'bob', -3, '2026-01-01T00:01:00Z')]).thenParks(/data\.upToRevision must be a whole number/);
  await given([messageSent({ chatId: 'alice:bob', senderId: 'carol', body: 'x', sentAt: '2026-01-01T00:00:01Z', messageId: m(9) })])
    .thenParks(/data\.chatId must be a pair of user ids including data\.senderId/);
});
