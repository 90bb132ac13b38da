// The messages projection through the projection kit: every message keyed by (chat, revision);
// an old MessageSent (version 1, no clientMessageId) is upcast on the way in.
import t from 'tap';
import { messagesProjection } from '../../projections/messages.js';
import { projectionKit } from '../support/projection-kit.js';
import { chatStarted, m, messageSent, messageSentV1 } from './kit-events.js';

t.test('messages', async (t) => {
  const { given } = projectionKit(t, messagesProjection);
  const ab = 'alice:bob';

  await given([
    chatStarted('alice', 'bob', '2026-01-01T00:00:00Z'), // revision 0 of chat-alice:bob, position 1
    messageSent({ chatId: ab, senderId: 'alice', body: 'hi', sentAt: '2026-01-01T00:00:01Z', messageId: m(1), clientMessageId: 'c1' }),
    messageSent({ chatId: ab, senderId: 'bob', body: 'say "hi" \\ ok? — ünïcødé ✓', sentAt: '2026-01-01T00:00:02Z', messageId: m(2), clientMessageId: 'c2' }),
  ]).then({
    messages: [
      { chat_id: ab, revision: 1, message_id: m(1), sender_id: 'alice', client_message_id: 'c1', body: 'hi', sent_at: '2026-01-01T00:00:01Z', position: '2' },
      { chat_id: ab, revision: 2, message_id: m(2), sender_id: 'bob', client_message_id: 'c2', body: 'say "hi" \\ ok? — ünïcødé ✓', sent_at: '2026-01-01T00:00:02Z', position: '3' },
    ],
  }, 'one row per message; quotes, backslash, ? and non-ASCII survive');

  await given([
    chatStarted('alice', 'bob', '2026-01-01T00:00:00Z'),
    messageSentV1({ chatId: ab, senderId: 'alice', body: 'from 2025', sentAt: '2025-12-31T23:59:59Z', messageId: m(3) }),
  ]).then({
    messages: [{ chat_id: ab, revision: 1, message_id: m(3), sender_id: 'alice', client_message_id: m(3), body: 'from 2025', sent_at: '2025-12-31T23:59:59Z', position: '2' }],
  }, 'a version-1 message: its id stands in for the clientMessageId');

  await given([
    messageSent({ chatId: ab, senderId: 'alice', body: 'ok', sentAt: '2026-01-01T00:00:01Z', messageId: m(4) }),
    { type: 'MessageSent', version: 2, data: { chatId: ab, messageId: m(5), senderId: 'bob', clientMessageId: 'x', body: 42, sentAt: '2026-01-01T00:00:02Z' } },
  ]).thenParks(/data\.body must be a string/, {
    messages: [{ chat_id: ab, revision: 0, message_id: m(4), sender_id: 'alice', client_message_id: `c-${m(4)}`, body: 'ok', sent_at: '2026-01-01T00:00:01Z', position: '1' }],
  });
});
