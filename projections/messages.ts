/** messages: every message of every chat, keyed by (chat, stream revision); re-inserting one is a no-op. */
import { MessageChangeEntity, MessageEntity } from '../infra/read-models/entities/messages.js';
import type { Columns } from '../infra/read-models/sql.js';
import { anyText, text, time } from './fields.js';
import { applyMessageChanges } from './message-changes.js';
import { byKey, eventsOfType, type ProjectionEvent, type SqlProjection } from './projection.js';

/** The users a batch erases (UserErased), each once, in a fixed order. */
export const erasedUsers = (events: readonly ProjectionEvent[]): string[] =>
  [...new Set(eventsOfType(events, 'UserErased').map((e) => text(e.event.data, 'userId')))].sort();

const COLUMNS: Columns = [
  ['chat_id', 'text'],
  ['revision', 'int'],
  ['message_id', 'text'],
  ['sender_id', 'text'],
  ['client_message_id', 'text'],
  ['body', 'text'],
  ['sent_at', 'timestamp'],
  ['position', 'bigint'],
];

export const messagesProjection: SqlProjection = {
  name: 'messages',
  version: 1,
  // UserErased: the sender's bodies go at once (docs/privacy.md); replays read them as erased anyway.
  handles: ['MessageSent', 'MessageEdited', 'MessageDeleted', 'UserErased'],
  // Rows are keyed by (chat, revision): a parked message leaves only its own slot empty until the
  // retry fills it, while every chat's history keeps flowing through a rolling upgrade.
  onUnknown: 'park-and-continue',
  entities: [MessageEntity, MessageChangeEntity],
  async apply(tx, events) {
    const rows = eventsOfType(events, 'MessageSent').map((e) => {
      const d = e.event.data;
      return {
        chat_id: text(d, 'chatId'),
        revision: e.revision,
        message_id: text(d, 'messageId'),
        sender_id: text(d, 'senderId'),
        client_message_id: text(d, 'clientMessageId'),
        body: anyText(d, 'body'),
        sent_at: time(d, 'sentAt'),
        position: e.position.toString(),
      };
    });
    if (rows.length > 0) {
      await tx.run(
        `INSERT INTO ${tx.table('messages')} (${COLUMNS.map(([c]) => c).join(', ')})
         ${tx.sql.rowsFrom(COLUMNS)}
         ON CONFLICT DO NOTHING`,
        [tx.sql.encodeRows(COLUMNS, byKey(rows, 'message_id'))],
      );
    }
    await applyMessageChanges(tx, events, rows.map((r) => r.message_id));
    // After the inserts: a body opened before the key was destroyed, in this batch or an earlier one, goes too.
    for (const userId of erasedUsers(events)) {
      await tx.run(`UPDATE ${tx.table('messages')} SET body = '' WHERE sender_id = ? AND body <> ''`, [userId]);
      await tx.run(`UPDATE ${tx.table('message_changes')} SET body = '' WHERE sender_id = ? AND body <> ''`, [userId]);
    }
  },
};
