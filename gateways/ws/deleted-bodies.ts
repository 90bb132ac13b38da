/**
 * A backlog read from the log holds a deleted message's MessageSent (and edits) with its body: the
 * log is immutable. Before such records reach a socket their bodies are blanked, from what the chat's
 * state knows is deleted (the command cache, kept fresh by the gateway's log feed, so usually no read).
 * Live frames need none of this: a message's own events precede its deletion.
 */
import { loadState, type CommandBus } from '../../commands/handle-command.js';
import { chatDecider } from '../../domain/chat.js';
import { chatStreamId } from '../../domain/events.js';
import type { PublicRecord } from '../../infra/event-store/public-record.js';

const CARRIES_BODY = new Set(['MessageSent', 'MessageEdited']);

/** The ids of the chat's deleted messages, read after the records so it covers every one of them. */
export async function deletedMessagesOf(bus: CommandBus, chatId: string): Promise<ReadonlySet<string>> {
  const { state } = await loadState(bus, chatStreamId(chatId), chatDecider);
  const deleted = new Set<string>();
  if (state.started) for (const [id, facts] of state.messages) if (facts.deleted) deleted.add(id);
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
