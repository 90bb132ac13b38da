/** messages: every message of every chat, keyed by (chat, stream revision); re-inserting one is a no-op. */
import { MessageEntity } from '../infra/read-models/entities/messages.js';
import type { Columns } from '../infra/read-models/sql.js';
import { anyText, text, time } from './fields.js';
import { byKey, eventsOfType, type SqlProjection } from './projection.js';

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
  handles: ['MessageSent'],
  entities: [MessageEntity],
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
    if (rows.length === 0) return;
    await tx.run(
      `INSERT INTO ${tx.table('messages')} (${COLUMNS.map(([c]) => c).join(', ')})
       ${tx.sql.rowsFrom(COLUMNS)}
       ON CONFLICT DO NOTHING`,
      [tx.sql.encodeRows(COLUMNS, byKey(rows, 'message_id'))],
    );
  },
};
