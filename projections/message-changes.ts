/**
 * Edits and deletes in the messages and chats read models. A message is changed in place: an edit
 * replaces its body (guarded by revision, so a re-delivered older edit changes nothing) and a delete
 * blanks it for good (no later edit brings a body back). For `messages` the latest change of each
 * message is also kept in message_changes, and a message is brought up to it whenever either arrives,
 * so the result does not depend on delivery order. The chats preview is changed in place only: a
 * change delivered before its message does not reach the preview (docs/projections.md).
 */
import { anyText, text, time } from './fields.js';
import { eventsOfType, type ProjectionEvent, type ProjectionTx } from './projection.js';

const CHANGES = new Set(['MessageEdited', 'MessageDeleted']);

/** The batch's edits and deletes, in log order. */
const changesOf = (events: readonly ProjectionEvent[]): ProjectionEvent[] => events.filter((e) => CHANGES.has(e.event.type));

/** Records the batch's changes, then brings every message they or the batch's inserts touch up to them. */
export async function applyMessageChanges(tx: ProjectionTx, events: readonly ProjectionEvent[], inserted: readonly string[]): Promise<void> {
  const changes = tx.table('message_changes');
  const touched = new Set(inserted);
  for (const e of changesOf(events)) {
    const d = e.event.data;
    const key = [text(d, 'messageId'), text(d, 'chatId'), text(d, 'senderId')];
    touched.add(key[0]!);
    if (e.event.type === 'MessageEdited') {
      await tx.run(
        `INSERT INTO ${changes} AS cur (message_id, chat_id, sender_id, body, edited_at, deleted_at, changed_revision)
         VALUES (?, ?, ?, ?, ?, NULL, ?)
         ON CONFLICT (message_id) DO UPDATE SET body = excluded.body, edited_at = excluded.edited_at, changed_revision = excluded.changed_revision
         WHERE cur.deleted_at IS NULL AND cur.changed_revision < excluded.changed_revision`,
        [...key, anyText(d, 'body'), tx.sql.time(time(d, 'editedAt')), e.revision],
      );
    } else {
      await tx.run(
        `INSERT INTO ${changes} AS cur (message_id, chat_id, sender_id, body, edited_at, deleted_at, changed_revision)
         VALUES (?, ?, ?, '', NULL, ?, ?)
         ON CONFLICT (message_id) DO UPDATE SET body = '', edited_at = NULL, deleted_at = excluded.deleted_at, changed_revision = excluded.changed_revision
         WHERE cur.deleted_at IS NULL`,
        [...key, tx.sql.time(time(d, 'deletedAt')), e.revision],
      );
    }
  }
  if (touched.size === 0) return;
  const messages = tx.table('messages');
  const ids = [...touched];
  const of = (column: string): string => `(SELECT c.${column} FROM ${changes} c WHERE c.message_id = ${messages}.message_id)`;
  for (let i = 0; i < ids.length; i += 500) {
    const page = ids.slice(i, i + 500);
    await tx.run(
      `UPDATE ${messages} SET body = ${of('body')}, edited_at = ${of('edited_at')}, deleted_at = ${of('deleted_at')}, changed_revision = ${of('changed_revision')}
       WHERE message_id IN (${page.map(() => '?').join(', ')})
         AND EXISTS (SELECT 1 FROM ${changes} c WHERE c.message_id = ${messages}.message_id
           AND (${messages}.changed_revision IS NULL OR c.changed_revision > ${messages}.changed_revision))`,
      page,
    );
  }
}

/** The chat list's preview follows a change of the chat's last message. */
export async function applyPreviewChanges(tx: ProjectionTx, events: readonly ProjectionEvent[]): Promise<void> {
  const chats = tx.table('chats');
  for (const e of eventsOfType(events, 'MessageEdited')) {
    const d = e.event.data;
    await tx.run(
      `UPDATE ${chats} SET last_message_body = ?, last_message_edited_at = ?
       WHERE chat_id = ? AND last_message_id = ? AND last_message_deleted_at IS NULL`,
      [anyText(d, 'body'), tx.sql.time(time(d, 'editedAt')), text(d, 'chatId'), text(d, 'messageId')],
    );
  }
  for (const e of eventsOfType(events, 'MessageDeleted')) {
    const d = e.event.data;
    await tx.run(
      `UPDATE ${chats} SET last_message_body = '', last_message_edited_at = NULL, last_message_deleted_at = ?
       WHERE chat_id = ? AND last_message_id = ? AND last_message_deleted_at IS NULL`,
      [tx.sql.time(time(d, 'deletedAt')), text(d, 'chatId'), text(d, 'messageId')],
    );
  }
}
