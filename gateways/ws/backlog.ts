/**
 * Reads what a socket missed in one chat: from the last-messages view when it holds the whole range
 * (ViewPage.complete), else from the event store's stream, which always can. Both give public
 * records, the only form in which events reach clients.
 */
import { chatStreamId } from '../../domain/events.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { toPublicRecord, type PublicRecord } from '../../projections/ports/public-record.js';
import type { LastMessagesView, ViewMessage } from '../../projections/ports/last-messages.js';
import { blankDeleted } from './deleted-bodies.js';

/** Page sizes: the view holds at most 100 per chat; a store page is one indexed range read. */
export const VIEW_PAGE = 100;
export const STORE_PAGE = 256;

export interface BacklogPage {
  records: PublicRecord[];
  source: 'view' | 'store';
  /** True when the store showed nothing beyond this page: the socket is caught up with the log. */
  exhausted: boolean;
  /** Asked for (withAfter): the store holds revision `after` itself, so a claim of it is within the chat. */
  afterSeen?: boolean;
}

/**
 * The public record of a message, rebuilt from the view. The view keeps every field of the event
 * but its creation time, so createdAt is the message's sentAt (the command's clock, which precedes
 * the store's timestamp by the append's duration). The event id is the message id: sendMessage
 * appends each message under its own id.
 */
export function recordFromView(m: ViewMessage): PublicRecord {
  return {
    id: m.messageId,
    streamId: chatStreamId(m.chatId),
    revision: m.revision,
    position: m.position,
    type: 'MessageSent',
    version: 2,
    data: {
      chatId: m.chatId, messageId: m.messageId, senderId: m.senderId, clientMessageId: m.clientMessageId, body: m.body, sentAt: m.sentAt,
      // The view applies edits and deletes in place: the record says so, as a blanked store record does.
      ...(m.editedAt !== undefined ? { editedAt: m.editedAt } : {}), ...(m.deleted ? { deleted: true } : {}),
    },
    createdAt: m.sentAt,
  };
}

/** Messages after `after`, oldest first; the view is tried only when asked (tryView) and only for messages (after >= 0). */
export async function readBacklog(
  store: EventStore,
  view: LastMessagesView | null,
  chatId: string,
  after: number,
  tryView: boolean,
  /** The chat's deleted message ids (deleted-bodies.ts): their bodies are blanked in a page read from the store. */
  deletedOf?: (chatId: string, fromRevision: number) => Promise<ReadonlySet<string>>,
  /** Read revision `after` too, from the store, to say whether it exists (afterSeen): one row more, no second query. */
  withAfter = false,
): Promise<BacklogPage> {
  if (tryView && view && after >= 0) {
    // read() never rejects; null means "not ready / unknown chat / unavailable": use the store.
    const page = await view.read(chatId, { afterRevision: after, limit: VIEW_PAGE });
    const first = page?.messages[0];
    if (page && page.complete && first && first.revision === after + 1) {
      const records: PublicRecord[] = [];
      let expect = after + 1;
      // Contiguity is re-checked rather than trusted: a view being rebuilt could hold a hole.
      for (const m of page.messages) {
        if (m.revision !== expect || m.chatId !== chatId) break;
        records.push(recordFromView(m));
        expect++;
      }
      return { records, source: 'view', exhausted: false };
    }
  }
  const checking = withAfter && after >= 0;
  let rows = await store.readStream(chatStreamId(chatId), { fromRevision: checking ? after : after + 1, maxCount: STORE_PAGE + (checking ? 1 : 0) });
  const afterSeen = checking ? rows[0]?.revision === after : undefined;
  if (checking) rows = rows.filter((r) => r.revision > after);
  let records = rows.map(toPublicRecord);
  if (deletedOf && records.some((r) => r.type === 'MessageSent' || r.type === 'MessageEdited')) records = blankDeleted(records, await deletedOf(chatId, after + 1));
  return { records, source: 'store', exhausted: rows.length < STORE_PAGE, ...(afterSeen === undefined ? {} : { afterSeen }) };
}
