/**
 * A backlog read from the log holds a deleted message's MessageSent (and edits) with its body: the
 * log is immutable. Before such records reach a socket their bodies are blanked, from what the chat's
 * state knows is deleted (the command cache, kept fresh by the gateway's log feed, so usually no read).
 * Live frames need none of this: a message's own events precede its deletion.
 */
import { loadState, type CommandBus } from '../../commands/handle-command.js';
import { chatDecider, DEDUPE_WINDOW } from '../../domain/chat.js';
import { chatStreamId } from '../../domain/events.js';
import type { PublicRecord } from '../../projections/ports/public-record.js';

const CARRIES_BODY = new Set(['MessageSent', 'MessageEdited']);

const PAGE = 1000;

/**
 * The ids of the chat's deleted messages sent from `fromRevision` on, read after the records so it
 * covers every one of them. The chat's state remembers its last DEDUPE_WINDOW messages; a backlog
 * reaching further back reads the deletions after `fromRevision` from the stream.
 */
export async function deletedMessagesOf(bus: CommandBus, chatId: string, fromRevision: number): Promise<ReadonlySet<string>> {
  const streamId = chatStreamId(chatId);
  const { state, revision } = await loadState(bus, streamId, chatDecider);
  const deleted = new Set<string>();
  if (!state.started) return deleted;
  for (const [id, m] of state.recentMessages) if (m.deleted) deleted.add(id);
  const oldest = state.recentMessages.values().next().value;
  // A window never filled has forgotten nothing; one that starts at or before fromRevision covers it.
  if (state.recentMessages.size < DEDUPE_WINDOW || (oldest !== undefined && oldest.revision <= fromRevision)) return deleted;
  for (let from = Math.max(fromRevision, 0); from <= revision;) {
    const page = await bus.store.readStream(streamId, { fromRevision: from, maxCount: PAGE });
    for (const r of page) {
      const id = (r.data as { messageId?: unknown } | null)?.messageId;
      if (r.type === 'MessageDeleted' && typeof id === 'string') deleted.add(id);
    }
    const last = page[page.length - 1];
    if (page.length < PAGE || last === undefined) break;
    from = last.revision + 1;
  }
  return deleted;
}

/** The records with the body of every deleted message blanked and marked `deleted: true`, as read models show it. */
export function blankDeleted(records: PublicRecord[], deleted: ReadonlySet<string>): PublicRecord[] {
  if (deleted.size === 0) return records;
  return records.map((r) => {
    const id = r.data['messageId'];
    if (!CARRIES_BODY.has(r.type) || typeof id !== 'string' || !deleted.has(id)) return r;
    return { ...r, data: { ...r.data, body: '', deleted: true } };
  });
}
