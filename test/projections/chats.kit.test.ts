// The chats projection through the projection kit: participants from ChatStarted, the last message
// by stream revision whatever the delivery order.
import t from 'tap';
import { chatsProjection } from '../../projections/chats.js';
import { projectionKit } from '../support/projection-kit.js';
import { chatStarted, m, messageSent } from './kit-events.js';

t.test('chats', async (t) => {
  const { given } = projectionKit(t, chatsProjection);

  await given([
    chatStarted('bob', 'alice', '2026-01-01T00:00:00Z'),
    chatStarted('carol', 'alice', '2026-01-01T00:00:01Z'),
    messageSent({ chatId: 'alice:bob', senderId: 'bob', body: 'first', sentAt: '2026-01-01T00:00:02Z', messageId: m(1) }),
    messageSent({ chatId: 'alice:bob', senderId: 'alice', body: 'last', sentAt: '2026-01-01T00:00:03Z', messageId: m(2) }),
  ]).then({
    chats: [
      {
        chat_id: 'alice:bob', participant_a: 'alice', participant_b: 'bob', started_by: 'bob', started_at: '2026-01-01T00:00:00Z',
        last_message_revision: 2, last_message_body: 'last', last_message_sender: 'alice', last_message_at: '2026-01-01T00:00:03Z',
        last_message_id: m(2),
      },
      {
        chat_id: 'alice:carol', participant_a: 'alice', participant_b: 'carol', started_by: 'carol', started_at: '2026-01-01T00:00:01Z',
        last_message_revision: null, last_message_body: null, last_message_sender: null, last_message_at: null,
      },
    ],
  }, 'participants, starter, and the message with the highest revision');

  await given([
    { type: 'ChatStarted', version: 1, data: { chatId: 'x:y', participants: ['x'], startedBy: 'x', at: '2026-01-01T00:00:00Z' } },
  ]).thenParks(/data\.participants must be two non-empty strings/);
});
