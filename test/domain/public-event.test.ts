import t from 'tap';
import { redactUnknown, toPublicEvent } from '../../domain/public-event.js';
import { upcast } from '../../domain/upcast.js';

t.test('the password hash never survives redaction', async (t) => {
  const pub = toPublicEvent({ type: 'UserRegistered', version: 1, data: { userId: 'a', username: 'a', passwordHash: '$argon2id$secret', role: 'user', registeredAt: 'x' } });
  t.notOk(JSON.stringify(pub).includes('argon2'), 'hash gone');
  t.same(pub.data, { userId: 'a', username: 'a', role: 'user', registeredAt: 'x' });
  t.same(redactUnknown({ a: 1, passwordHash: 'x', nested: [{ token: 't', ok: true }] }), { a: 1, nested: [{ ok: true }] });
});

t.test('upcast: MessageSent v1 gains a clientMessageId; unknown types and versions give null', async (t) => {
  t.same(upcast('MessageSent', 1, { chatId: 'c', messageId: 'm', senderId: 's', body: 'b', sentAt: 't' }), {
    type: 'MessageSent', version: 2, data: { chatId: 'c', messageId: 'm', senderId: 's', body: 'b', sentAt: 't', clientMessageId: 'm' },
  });
  t.equal(upcast('Nope', 1, {}), null);
  t.equal(upcast('ChatStarted', 9, {}), null);
  t.equal(upcast('ChatStarted', 1, null), null);
});
