/**
 * Erasure's direct pass over the live read models (docs/privacy.md): the projections blank an erased
 * user's bodies (and mark the user erased) when they apply UserErased, and this does the same at once, so a lagging projector
 * does not leave them readable meanwhile. Same statements, same result: a rebuild or `chat audit
 * verify` finds nothing to disagree with. Dead letters are blanked here only (no projection owns them).
 */
import { emOf, sqlOf, sqlQuery, type ReadModelOrm } from '../orm.js';

export async function scrubBodiesOf(orm: ReadModelOrm, userId: string, erasedAt: string | null = null): Promise<void> {
  const sql = sqlOf(orm);
  const em = emOf(orm);
  const sqlite = sql.name === 'sqlite';
  // SQLite keeps overwritten bytes in free space (every connection runs with secure_delete on, orm.ts)
  // and in the WAL: the WAL is folded back in and truncated at the end.
  await sqlQuery(em, `UPDATE ${sql.table('messages')} SET body = '' WHERE sender_id = ? AND body <> ''`, [userId]);
  await sqlQuery(em, `UPDATE ${sql.table('chats')} SET last_message_body = '' WHERE last_message_sender = ? AND last_message_body <> ''`, [userId]);
  await sqlQuery(em, `UPDATE ${sql.table('message_changes')} SET body = '' WHERE sender_id = ? AND body <> ''`, [userId]);
  await sqlQuery(em, `UPDATE ${sql.table('chat_preview_changes')} SET body = '' WHERE sender_id = ? AND body <> ''`, [userId]);
  // A parked record may hold an opened body (the store feed parks what it read): blank it too. A retry
  // reads the event from the log again, so the dead letter's copy is only for people to look at.
  await sqlQuery(em, sqlite
    ? `UPDATE ${sql.table('dead_letters')} SET record = json_set(record, '$.data.body', '')
       WHERE json_extract(record, '$.data.senderId') = ? AND json_extract(record, '$.data.body') <> ''`
    : `UPDATE ${sql.table('dead_letters')} SET record = jsonb_set(record, '{data,body}', '""')
       WHERE record->'data'->>'senderId' = ? AND record->'data'->>'body' <> ''`, [userId]);
  // The user search leaves them out from now on, not only once the projector applies UserErased: with
  // the UserErased's own time, which the projection keeps (COALESCE), so a rebuild writes the same.
  if (erasedAt !== null) {
    await sqlQuery(em, `UPDATE ${sql.table('users')} SET erased_at = ? WHERE user_id = ? AND erased_at IS NULL`, [sql.time(erasedAt), userId]);
  }
  if (sqlite) await sqlQuery(em, 'PRAGMA wal_checkpoint(TRUNCATE)');
}
