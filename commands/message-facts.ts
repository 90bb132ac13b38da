/**
 * The facts of a message the chat's state no longer remembers (it keeps the last DEDUPE_WINDOW
 * messages, domain/message-changes.ts), read from the chat's stream for an edit or delete of an older
 * message. Read backwards from the state's revision down to the message: a deletion comes after its
 * message, so every deletion of it is seen on the way, and the facts are exactly those of the state
 * the command is decided on (the append's expected revision then guards the rest).
 * Costs a read of the events after the message; only edits and deletes of messages older than the
 * last DEDUPE_WINDOW pay it.
 */
import type { MessageDeleted, MessageSent } from '../domain/events.js';
import { factsFrom, type ChangeRef, type MessageFacts } from '../domain/message-changes.js';
import { toDomainEvent } from './ports/codec.js';
import type { EventStore } from './ports/event-store.js';

const PAGE = 1000;

/** The message's facts as of `revision`; null when the stream holds no MessageSent of that id. */
export async function loadMessageFacts(store: EventStore, streamId: string, messageId: string, revision: number): Promise<MessageFacts | null> {
  let deleted: { event: MessageDeleted; ref: ChangeRef } | null = null;
  let from = revision;
  while (from >= 0) {
    const page = await store.readStream(streamId, { direction: 'backwards', fromRevision: from, maxCount: PAGE });
    for (const recorded of page) {
      // The cheap test first: most events of a chat are other messages.
      if ((recorded.data as { messageId?: unknown } | null)?.messageId !== messageId) continue;
      const event = toDomainEvent(recorded);
      if (event?.type === 'MessageDeleted' && deleted === null) deleted = { event, ref: { revision: recorded.revision, position: recorded.position } };
      if (event?.type === 'MessageSent') return factsFrom(event as MessageSent, deleted);
    }
    const last = page[page.length - 1];
    if (page.length < PAGE || last === undefined) return null;
    from = last.revision - 1;
  }
  return null;
}
