/**
 * Edits and deletes in the messages and chats read models. A message is changed in place: an edit
 * replaces its body (guarded by revision, so a re-delivered older edit changes nothing) and a delete
 * blanks it for good (no later edit brings a body back). For `messages` the latest change of each
 * message is also kept in message_changes, and a message is brought up to it whenever either arrives,
 * so the result does not depend on delivery order. The chats preview likewise, from its own copy of
 * the changes (chat_preview_changes).
 */
import { EntitySchema } from '@mikro-orm/core';
import { anyText, text, time } from './fields.js';
import type { MessageChangeRow } from './messages.js';
import { eventsOfType, type ProjectionEvent, type ProjectionTx } from './projection.js';

const CHANGES = new Set(['MessageEdited', 'MessageDeleted']);

/** The batch's edits and deletes, in log order. */
const changesOf = (events: readonly ProjectionEvent[]): ProjectionEvent[] => events.filter((e) => CHANGES.has(e.event.type));

/**
 * Keeps the latest change of each message the batch changes in `table` (message_changes, or the chats
 * projection's own chat_preview_changes: same columns): an edit replaces an older edit, a delete is
 * final. Returns the ids of the messages changed. The rows do not depend on delivery order.
 */
export async function recordChanges(tx: ProjectionTx, events: readonly ProjectionEvent[], table: string): Promise<Set<string>> {
  const changes = tx.table(table);
  const touched = new Set<string>();
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
  return touched;
}

/** Records the batch's changes, then brings every message they or the batch's inserts touch up to them. */
export async function applyMessageChanges(tx: ProjectionTx, events: readonly ProjectionEvent[], inserted: readonly string[]): Promise<void> {
  const changes = tx.table('message_changes');
  const touched = new Set([...inserted, ...(await recordChanges(tx, events, 'message_changes'))]);
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

/**
 * The chat list's preview follows a change of the chat's last message, whichever arrives first: the
 * chats projection keeps every change in chat_preview_changes, and a chat whose last message the batch
 * set or changed is brought up to that message's latest change.
 */
export async function applyPreviewChanges(tx: ProjectionTx, events: readonly ProjectionEvent[], chatIds: Iterable<string>): Promise<void> {
  const changed = await recordChanges(tx, events, PREVIEW_CHANGES);
  const chats = tx.table('chats');
  const changes = tx.table(PREVIEW_CHANGES);
  const ids = [...new Set([...chatIds, ...changesOf(events).map((e) => text(e.event.data, 'chatId'))])].sort();
  if (ids.length === 0 || (changed.size === 0 && !(await anyChangeIn(tx, ids)))) return;
  const of = (column: string): string => `(SELECT c.${column} FROM ${changes} c WHERE c.message_id = ${chats}.last_message_id)`;
  for (let i = 0; i < ids.length; i += 500) {
    const page = ids.slice(i, i + 500);
    await tx.run(
      `UPDATE ${chats} SET last_message_body = ${of('body')}, last_message_edited_at = ${of('edited_at')}, last_message_deleted_at = ${of('deleted_at')}
       WHERE chat_id IN (${page.map(() => '?').join(', ')})
         AND EXISTS (SELECT 1 FROM ${changes} c WHERE c.message_id = ${chats}.last_message_id)`,
      page,
    );
  }
}

export const PREVIEW_CHANGES = 'chat_preview_changes';

/**
 * chat_preview_changes: the chats projection's own copy of message_changes (a projection is rebuilt on
 * its own, so it cannot read another's tables): the latest change of each changed message, so a change
 * delivered before its message still reaches the preview. Blanked on the sender's erasure.
 */
export const ChatPreviewChangeEntity = changesEntity('ChatPreviewChangeRow', PREVIEW_CHANGES);

/** A table of latest changes per message (message_changes, chat_preview_changes): one shape for both. */
export function changesEntity(name: string, tableName: string): EntitySchema<MessageChangeRow> {
  return new EntitySchema<MessageChangeRow>({
    name,
    tableName,
    properties: {
      messageId: { type: 'string', primary: true, fieldName: 'message_id' },
      chatId: { type: 'string', fieldName: 'chat_id' },
      senderId: { type: 'string', fieldName: 'sender_id' },
      body: { type: 'text' },
      editedAt: { type: 'datetime', nullable: true, fieldName: 'edited_at' },
      deletedAt: { type: 'datetime', nullable: true, fieldName: 'deleted_at' },
      changedRevision: { type: 'integer', fieldName: 'changed_revision' },
    },
  });
}

/** Whether any of these chats has a recorded change at all (most batches of sends: none, one cheap read). */
async function anyChangeIn(tx: ProjectionTx, chatIds: string[]): Promise<boolean> {
  if (chatIds.length > 500) return true;
  const rows = await tx.query<{ n: number }>(
    `SELECT 1 AS n FROM ${tx.table(PREVIEW_CHANGES)} WHERE chat_id IN (${chatIds.map(() => '?').join(', ')}) LIMIT 1`,
    chatIds,
  );
  return rows.length > 0;
}
