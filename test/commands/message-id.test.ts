// A message id is also its event id, so the ids of messages already stored must never change: a
// resend of an old message has to meet the same id. These were computed by the hand-written UUIDv5
// that message-id.ts held before it used the uuid package, and pin the derivation byte for byte.
import t from 'tap';
import { messageIdFor } from '../../commands/message-id.js';

const known: [chatId: string, senderId: string, clientMessageId: string, id: string][] = [
  ['alice:bob', 'alice', 'c1', '5fe630ce-da23-5a62-b25e-da44dc98aa3c'],
  ['alice:bob', 'bob', 'c1', 'f8ddc807-df61-584a-9937-0f6001656bd1'],
  ['alice:bob', 'alice', '6f1c2b7e-0000-4000-8000-000000000001', '101fe9d3-64a2-5406-96ad-cb0dddf259ba'],
  ['zoë:ünal', 'zoë', 'ключ-💬', '98fb7c95-992a-59de-9771-f9dd3e803f52'],
  ['a:b', 'a', '', 'a8ff75da-4410-5baf-ac63-14a4dda27ec6'],
  // A lone surrogate is encoded as U+FFFD (Buffer's UTF-8), not refused.
  ['alice:bob', 'alice', 'x\ud800y', '91fb1d6f-26ec-5bae-9780-7da9ae6beee3'],
];

t.test('message ids stay what they have always been', async (t) => {
  for (const [chatId, senderId, clientMessageId, id] of known) {
    t.equal(messageIdFor(chatId, senderId, clientMessageId), id, JSON.stringify([chatId, senderId, clientMessageId]));
  }
});

t.test('a message id is a version 5, RFC 4122 variant UUID in lower case', async (t) => {
  const id = messageIdFor('alice:bob', 'alice', 'c2');
  t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});
