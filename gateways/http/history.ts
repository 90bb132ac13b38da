/**
 * Chat history, newest first, paged backwards by revision. The newest 100 messages of a chat come
 * from the last-messages view (Redis, or memory in the embedded default); older pages, and every
 * page while the view is down, slow, rebuilding or missing the chat, come from the SQL read model.
 * Both give the same page; only the X-History-Source header says which one answered.
 *
 * The view is fed asynchronously (by the projector), so it can be a moment behind the log: a message
 * whose send was just acknowledged may not be in it yet. A newest page is therefore given the chat's
 * revision as the log holds it (`atLeast`), and waits for the view to reach it, briefly, before the
 * database answers instead.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LastMessagesView, ViewMessage } from '../../projections/ports/last-messages.js';
import type { HttpReadModels, MessageView } from './read-port.js';
import type { ReplicaReads } from './replica-reads.js';

export interface HistoryPage {
  /** Newest first. */
  messages: MessageView[];
  /** Pass as `before` for the next (older) page; null when this page reached the first message. */
  nextBefore: number | null;
  source: 'cache' | 'database';
}

const toMessageView = (m: ViewMessage): MessageView => ({
  chatId: m.chatId, messageId: m.messageId, senderId: m.senderId, clientMessageId: m.clientMessageId,
  body: m.body, sentAt: m.sentAt, revision: m.revision, editedAt: m.editedAt ?? null, deleted: m.deleted === true,
});

/** Resolves to null after ms: a slow cache is treated like a missing one (the view's own timeout is a second guard). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), ms); });
  try {
    return await Promise.race([promise.catch(() => null), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** How often a newest page waiting for the view looks again. */
const FRESH_POLL_MS = 15;

function nextBefore(messages: MessageView[], limit: number): number | null {
  const oldest = messages[messages.length - 1];
  // Messages hold revisions 1..last (ChatStarted is 0): a full page that did not reach 1 has more behind it.
  return messages.length === limit && oldest && oldest.revision > 1 ? oldest.revision : null;
}

export async function readHistory(args: {
  view: LastMessagesView | null;
  reads: HttpReadModels;
  chatId: string;
  before?: number;
  limit: number;
  cacheTimeoutMs: number;
  /** With DATABASE_READ_URL: database pages from the replica, unless it is behind this user's own send. */
  replica?: { reads: ReplicaReads; userId: string } | null;
  /** The chat's revision in the log: a newest page from the view must have applied it. */
  atLeast?: number;
  /** How long to wait for the view to reach `atLeast` (HttpConfig.historyFreshWaitMs; default: not at all). */
  freshWaitMs?: number;
}): Promise<HistoryPage> {
  const { view, chatId, before, limit } = args;
  if (view) {
    // The view answers for a range only once it has applied all of it: a newest page, the chat's
    // revision in the log (waiting for it, briefly); an older page, every revision below `before`
    // (a newest page the database gave may reach past a view that is behind; no wait then).
    const atLeast = before === undefined ? args.atLeast ?? -1 : before - 1;
    const until = performance.now() + (before === undefined ? args.freshWaitMs ?? 0 : 0);
    for (;;) {
      const page = await within(view.read(chatId, { ...(before !== undefined ? { beforeRevision: before } : {}), limit }), args.cacheTimeoutMs);
      // An incomplete page means part of the range has been trimmed out of the view: SQL has all of it.
      if (!page?.complete) break;
      if (page.lastRevision >= atLeast) {
        const messages = page.messages.map(toMessageView).reverse();
        return { messages, nextBefore: nextBefore(messages, limit), source: 'cache' };
      }
      if (performance.now() >= until) break;
      await sleep(FRESH_POLL_MS);
    }
  }
  const q = { chatId, ...(before !== undefined ? { before } : {}), limit };
  const messages = args.replica ? (await args.replica.reads.history(args.replica.userId, q)).messages : await args.reads.history(q);
  return { messages, nextBefore: nextBefore(messages, limit), source: 'database' };
}
