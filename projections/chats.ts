/**
 * chats: one row per chat with its participants and its last message. The last message is kept
 * only if its stream revision is higher than the stored one, so any delivery order converges; and
 * ChatStarted fills only the chat's own columns, so one arriving after a MessageSent keeps the last
 * message.
 */
import { ChatEntity } from '../infra/read-models/entities/chats.js';
import type { Columns } from '../infra/read-models/sql.js';
import { anyText, pair, text, time } from './fields.js';
import { erasedUsers } from './messages.js';
import { applyPreviewChanges } from './message-changes.js';
import { byKey, eventsOfType, type SqlProjection } from './projection.js';

interface ChatUpsert {
  chat_id: string;
  participant_a: string | null;
  participant_b: string | null;
  started_by: string | null;
  started_at: string | null;
  last_message_revision: number | null;
  last_message_body: string | null;
  last_message_sender: string | null;
  last_message_at: string | null;
  last_message_id: string | null;
}

const COLUMNS: Columns = [
  ['chat_id', 'text'],
  ['participant_a', 'text'],
  ['participant_b', 'text'],
  ['started_by', 'text'],
  ['started_at', 'timestamp'],
  ['last_message_revision', 'int'],
  ['last_message_body', 'text'],
  ['last_message_sender', 'text'],
  ['last_message_at', 'timestamp'],
  ['last_message_id', 'text'],
];

const NEWER = 'excluded.last_message_revision IS NOT NULL AND (cur.last_message_revision IS NULL OR excluded.last_message_revision > cur.last_message_revision)';
const lastMessage = (col: string): string => `${col} = CASE WHEN ${NEWER} THEN excluded.${col} ELSE cur.${col} END`;

export const chatsProjection: SqlProjection = {
  name: 'chats',
  version: 1,
  handles: ['ChatStarted', 'MessageSent', 'MessageEdited', 'MessageDeleted', 'UserErased'],
  // The last message is guarded by revision and ChatStarted fills only its own columns: a retried
  // event converges like any late delivery, and the other chats must not freeze meanwhile.
  onUnknown: 'park-and-continue',
  entities: [ChatEntity],
  async apply(tx, events) {
    const rows = new Map<string, ChatUpsert>();
    const row = (chatId: string): ChatUpsert => {
      let r = rows.get(chatId);
      if (!r) {
        r = {
          chat_id: chatId, participant_a: null, participant_b: null, started_by: null, started_at: null,
          last_message_revision: null, last_message_body: null, last_message_sender: null, last_message_at: null, last_message_id: null,
        };
        rows.set(chatId, r);
      }
      return r;
    };
    for (const e of eventsOfType(events, 'ChatStarted')) {
      const r = row(text(e.event.data, 'chatId'));
      [r.participant_a, r.participant_b] = pair(e.event.data, 'participants');
      r.started_by = text(e.event.data, 'startedBy');
      r.started_at = time(e.event.data, 'at');
    }
    for (const e of eventsOfType(events, 'MessageSent')) {
      const d = e.event.data;
      const r = row(text(d, 'chatId'));
      const body = anyText(d, 'body');
      const sender = text(d, 'senderId');
      const at = time(d, 'sentAt');
      if (r.last_message_revision === null || e.revision > r.last_message_revision) {
        r.last_message_revision = e.revision;
        r.last_message_body = body;
        r.last_message_sender = sender;
        r.last_message_at = at;
        r.last_message_id = text(d, 'messageId');
      }
    }
    // A preview of an erased user's message goes at once (docs/privacy.md); replays read it as erased anyway.
    for (const userId of erasedUsers(events)) {
      await tx.run(`UPDATE ${tx.table('chats')} SET last_message_body = '' WHERE last_message_sender = ? AND last_message_body <> ''`, [userId]);
    }
    if (rows.size > 0) await upsert(tx, rows);
    // After the upsert: an edit or delete of a message this batch made the last one reaches it.
    await applyPreviewChanges(tx, events);
  },
};

async function upsert(tx: Parameters<SqlProjection['apply']>[0], rows: Map<string, ChatUpsert>): Promise<void> {
  await tx.run(
    `INSERT INTO ${tx.table('chats')} AS cur (${COLUMNS.map(([c]) => c).join(', ')})
     ${tx.sql.rowsFrom(COLUMNS)}
     ON CONFLICT (chat_id) DO UPDATE SET
       participant_a = COALESCE(excluded.participant_a, cur.participant_a),
       participant_b = COALESCE(excluded.participant_b, cur.participant_b),
       started_by = COALESCE(excluded.started_by, cur.started_by),
       started_at = COALESCE(excluded.started_at, cur.started_at),
       ${['last_message_revision', 'last_message_body', 'last_message_sender', 'last_message_at', 'last_message_id'].map(lastMessage).join(',\n         ')},
       last_message_edited_at = CASE WHEN ${NEWER} THEN NULL ELSE cur.last_message_edited_at END,
       last_message_deleted_at = CASE WHEN ${NEWER} THEN NULL ELSE cur.last_message_deleted_at END`,
    [tx.sql.encodeRows(COLUMNS, byKey([...rows.values()], 'chat_id') as unknown as Record<string, unknown>[])],
  );
}
