import t from 'tap';
import { chatIdFor, otherParticipant, participantsOf } from '../../domain/chat-id.js';

t.test('a chat id is the sorted pair: both sides derive the same one, and it splits back', async (t) => {
  t.equal(chatIdFor('bob', 'alice'), 'alice:bob');
  t.equal(chatIdFor('alice', 'bob'), 'alice:bob');
  t.same(participantsOf('alice:bob'), ['alice', 'bob']);
});

t.test('ids that no chat can have: not a pair, unsorted, an empty side, a third part', async (t) => {
  for (const id of ['alice', 'bob:alice', ':bob', 'alice:', 'a:b:c', '', 'alice:alice']) {
    t.equal(participantsOf(id), null, JSON.stringify(id));
    t.same(otherParticipant(id, 'alice'), { refused: 'CHAT_NOT_FOUND' }, `${JSON.stringify(id)} for a side of it`);
  }
});

t.test('otherParticipant: either participant gets the other; an outsider is refused whether or not the chat exists', async (t) => {
  t.same(otherParticipant('alice:bob', 'alice'), { other: 'bob' });
  t.same(otherParticipant('alice:bob', 'bob'), { other: 'alice' });
  t.same(otherParticipant('alice:bob', 'carol'), { refused: 'NOT_A_PARTICIPANT' });
  t.same(otherParticipant('alice:bob', 'ali'), { refused: 'NOT_A_PARTICIPANT' }, 'a prefix of a participant is not one');
});
