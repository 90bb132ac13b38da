// Edits and deletes in the messages and chats read models, through the projection kit: an edit
// replaces the body and sets edited_at; a delete blanks the body for good, in any delivery order
// (the kit replays each list in reverse too); the chat list's preview follows a change of the last
// message, in any delivery order too (a change delivered before its message is kept in
// chat_preview_changes and reaches the preview when its message becomes the last).
import t from 'tap';
import type { DomainEvent } from '../../domain/events.js';
import { chatsProjection } from '../../projections/chats.js';
import { messagesProjection } from '../../projections/messages.js';
import { projectionKit } from '../support/projection-kit.js';
import { chatStarted, m, messageSent } from './kit-events.js';

const ab = 'alice:bob';
const edited = (messageId: string, body: string, at: string): DomainEvent =>
  ({ type: 'MessageEdited', version: 1, data: { chatId: ab, messageId, senderId: 'alice', clientEditId: `e-${body.length}`, body, editedAt: at } });
const deleted = (messageId: string, at: string): DomainEvent =>
  ({ type: 'MessageDeleted', version: 1, data: { chatId: ab, messageId, senderId: 'alice', clientDeleteId: 'd1', deletedAt: at } });
const history = (): DomainEvent[] => [
  chatStarted('alice', 'bob', '2026-01-01T00:00:00Z'),
  messageSent({ chatId: ab, senderId: 'alice', body: 'helo', sentAt: '2026-01-01T00:00:01Z', messageId: m(1), clientMessageId: 'c1' }),
  messageSent({ chatId: ab, senderId: 'alice', body: 'a secret', sentAt: '2026-01-01T00:00:02Z', messageId: m(2), clientMessageId: 'c2' }),
  edited(m(1), 'hello', '2026-01-01T00:00:03Z'),
  deleted(m(2), '2026-01-01T00:00:04Z'),
];

t.test('messages: edited in place, deleted without a body', async (t) => {
  const { given } = projectionKit(t, messagesProjection);
  await given(history()).then({
    messages: [
      { chat_id: ab, revision: 1, message_id: m(1), sender_id: 'alice', client_message_id: 'c1', body: 'hello', sent_at: '2026-01-01T00:00:01Z', position: '2', edited_at: '2026-01-01T00:00:03Z', deleted_at: null, changed_revision: 3 },
      { chat_id: ab, revision: 2, message_id: m(2), sender_id: 'alice', client_message_id: 'c2', body: '', sent_at: '2026-01-01T00:00:02Z', position: '3', edited_at: null, deleted_at: '2026-01-01T00:00:04Z', changed_revision: 4 },
    ],
    message_changes: [
      { message_id: m(1), chat_id: ab, sender_id: 'alice', body: 'hello', edited_at: '2026-01-01T00:00:03Z', deleted_at: null, changed_revision: 3 },
      { message_id: m(2), chat_id: ab, sender_id: 'alice', body: '', edited_at: null, deleted_at: '2026-01-01T00:00:04Z', changed_revision: 4 },
    ],
  }, 'the edit replaces the body; the delete leaves none');
  await given([...history(), edited(m(2), 'back from the dead', '2026-01-01T00:00:05Z')]).then({
    messages: [
      { chat_id: ab, revision: 1, message_id: m(1), sender_id: 'alice', client_message_id: 'c1', body: 'hello', sent_at: '2026-01-01T00:00:01Z', position: '2', edited_at: '2026-01-01T00:00:03Z', deleted_at: null, changed_revision: 3 },
      { chat_id: ab, revision: 2, message_id: m(2), sender_id: 'alice', client_message_id: 'c2', body: '', sent_at: '2026-01-01T00:00:02Z', position: '3', edited_at: null, deleted_at: '2026-01-01T00:00:04Z', changed_revision: 4 },
    ],
  }, 'no edit after a delete brings a body back');
});

t.test('chats: the preview follows its message', async (t) => {
  const { given } = projectionKit(t, chatsProjection);
  const chat = {
    chat_id: ab, participant_a: 'alice', participant_b: 'bob', started_by: 'alice', started_at: '2026-01-01T00:00:00Z',
    last_message_revision: 2, last_message_sender: 'alice', last_message_at: '2026-01-01T00:00:02Z', last_message_id: m(2),
  };
  await given(history()).then({ chats: [{ ...chat, last_message_body: '', last_message_edited_at: null, last_message_deleted_at: '2026-01-01T00:00:04Z' }] },
    'a deleted last message leaves no body in the preview');
  await given(history().slice(0, 3).concat([edited(m(2), 'a secret, edited', '2026-01-01T00:00:05Z')])).then({
    chats: [{ ...chat, last_message_body: 'a secret, edited', last_message_edited_at: '2026-01-01T00:00:05Z', last_message_deleted_at: null }],
  }, 'an edited last message');
  await given(history().slice(0, 4)).then({
    chats: [{ ...chat, last_message_body: 'a secret', last_message_edited_at: null, last_message_deleted_at: null }],
  }, 'an edit of an older message leaves the preview alone');
  // Reversed as given: the delete and the edit arrive before the messages they change.
  await given([
    deleted(m(2), '2026-01-01T00:00:04Z'), edited(m(1), 'hello', '2026-01-01T00:00:03Z'),
    messageSent({ chatId: ab, senderId: 'alice', body: 'a secret', sentAt: '2026-01-01T00:00:02Z', messageId: m(2), clientMessageId: 'c2' }),
    chatStarted('alice', 'bob', '2026-01-01T00:00:00Z'),
  ].map((e, i) => ({ ...e, streamId: `chat-${ab}`, revision: [4, 3, 2, 0][i]! }))).then({
    chats: [{ ...chat, last_message_body: '', last_message_edited_at: null, last_message_deleted_at: '2026-01-01T00:00:04Z' }],
    chat_preview_changes: [
      { message_id: m(1), chat_id: ab, sender_id: 'alice', body: 'hello', edited_at: '2026-01-01T00:00:03Z', deleted_at: null, changed_revision: 3 },
      { message_id: m(2), chat_id: ab, sender_id: 'alice', body: '', edited_at: null, deleted_at: '2026-01-01T00:00:04Z', changed_revision: 4 },
    ],
  }, 'a delete delivered before its message still blanks the preview');
});
