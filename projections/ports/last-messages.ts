/**
 * The "last N messages per chat" view (N = LAST_MESSAGES_SIZE, 100 by default): a cache in front of PostgreSQL and the log. Readers may
 * use it only while it is 'ready'; any null answer means "fall back to PostgreSQL or the log".
 *
 * Invariant both adapters keep: for each chat the view knows, it holds exactly the messages with
 * revisions [max(1, last - capacity + 1), last], where last is the chat's last applied revision
 * (ChatStarted is revision 0 and holds no message). Applies are idempotent by revision, so the
 * projection may re-deliver freely; anything out of order is reported as a gap for it to backfill.
 */
import type { PublicRecord } from './public-record.js';

/** Messages per chat when LAST_MESSAGES_SIZE is unset, and what a view built before the setting existed holds. */
export const DEFAULT_VIEW_CAPACITY = 100;

export type ApplyResult = 'applied' | 'duplicate' | 'gap' | 'ignored';

/**
 * A message as every read of it shows it (this view, the HTTP history, the pages): what its
 * MessageSent carried, and where it stands in its chat.
 */
export interface MessageFields {
  chatId: string;
  messageId: string;
  senderId: string;
  clientMessageId: string;
  body: string;
  sentAt: string;
  /** Revision of the message in its chat's stream: the history paging key. */
  revision: number;
}

export interface ViewMessage extends MessageFields {
  /** Global log position, decimal string (JSON has no 64-bit integers). */
  position: string;
  /** Set by a MessageEdited the view applied: body is the edited text. */
  editedAt?: string;
  /** Set by a MessageDeleted the view applied: body is ''. */
  deleted?: true;
}

export interface ViewPage {
  /** Identifies this incarnation of the view: a different epoch means it was rebuilt since. */
  epoch: string;
  /** Ordered by revision ascending. */
  messages: ViewMessage[];
  /** The chat's last revision the view has applied. */
  lastRevision: number;
  /** True when the view holds every message of the requested range (nothing was cut off by the capacity). */
  complete: boolean;
}

export interface ReadOptions {
  /** Only messages with revision < beforeRevision; the newest `limit` of them. */
  beforeRevision?: number;
  /** Only messages with revision > afterRevision; the oldest `limit` of them (forward paging). */
  afterRevision?: number;
  limit: number;
}

export interface LastMessagesView {
  /**
   * Applies a ChatStarted or MessageSent record; any other record is 'ignored'.
   * Rejects when the view's storage is unavailable (the projection retries).
   */
  apply(record: PublicRecord): Promise<ApplyResult>;
  /** Never rejects: null when the view is not ready, does not know the chat, or is unavailable. */
  read(chatId: string, opts: ReadOptions): Promise<ViewPage | null>;
  /** The current epoch while the view is ready; null otherwise (or when unavailable). Never rejects. */
  epoch(): Promise<string | null>;
  close(): Promise<void>;
}

export type ViewStateName = 'rebuilding' | 'ready';

export interface ViewState {
  epoch: string | null;
  state: ViewStateName | null;
  /** Last global position applied by the projection, decimal string. */
  checkpoint: string | null;
  /**
   * Messages per chat the view was built for (recorded by beginRebuild): a view built for another
   * capacity holds too many or too few per chat, so the projection rebuilds it. Null when never built,
   * or built by a release before the setting existed (which means DEFAULT_VIEW_CAPACITY).
   */
  capacity: number | null;
}

export interface BatchProgress {
  epoch: string;
  /** Position of the last event of the batch, decimal string. */
  checkpoint: string;
}

/** What the projection needs beyond the reader's port. Every method rejects when storage is unavailable. */
export interface LastMessagesViewAdmin extends LastMessagesView {
  readonly capacity: number;
  state(): Promise<ViewState>;
  /** Marks the view 'rebuilding' under a new epoch for its capacity and empties every chat; returns the new epoch. */
  beginRebuild(): Promise<string>;
  /**
   * Applies many records in one round trip (rebuild and catch-up); results in input order. With
   * `progress`, the checkpoint is saved after them in the same round trip if the epoch still matches,
   * so an interrupted rebuild can resume instead of starting over.
   */
  applyBatch(records: PublicRecord[], progress?: BatchProgress): Promise<ApplyResult[]>;
  /**
   * Replaces one chat with the given messages (the newest `capacity` of its stream) and its last
   * revision, atomically; 'stale' (nothing written) when the view is already at or past lastRevision.
   */
  replaceChat(chatId: string, messages: ViewMessage[], lastRevision: number): Promise<'applied' | 'stale'>;
  /** Sets the checkpoint and state 'ready' if the epoch is still `epoch`; false when it changed or vanished. */
  finishRebuild(epoch: string, checkpoint: string): Promise<boolean>;
  /** Saves the checkpoint if the view is still ready under `epoch`; false when the epoch changed or vanished. */
  heartbeat(epoch: string, checkpoint: string): Promise<boolean>;
  /**
   * Marks a view that is ready under `epoch` 'rebuilding' again, keeping its epoch and checkpoint:
   * readers fall back while the projection replays from that checkpoint. Used after a reconnect,
   * when the server may be a promoted replica (or a restart from a snapshot) that lost recent writes.
   * False when the view is not ready under `epoch`. Optional: without it the replay happens unseen.
   */
  suspend?(epoch: string): Promise<boolean>;
  /** Erasure (docs/privacy.md): forgets every chat the user is in, as if its keys had been evicted. */
  forgetChatsOf?(userId: string): Promise<void>;
  /** Called whenever the storage connection is (re)established; returns an unsubscribe function. */
  onReconnect(listener: () => void): () => void;
}

// ---- helpers shared by the adapters (pure; kept here so both follow one definition) ----

/** What an edit or delete does to a held message: its new body, and the flag it sets. */
export interface MessagePatch {
  messageId: string;
  body: string;
  editedAt?: string;
  deleted?: true;
}

export type ChatChange =
  | { kind: 'started'; chatId: string; revision: number }
  | { kind: 'message'; chatId: string; revision: number; message: ViewMessage }
  /** MessageEdited / MessageDeleted: takes the revision, and changes the message in place if the view holds it. */
  | { kind: 'patch'; chatId: string; revision: number; patch: MessagePatch };

/** A held message after a patch; a deleted one stays deleted (and bodiless) whatever comes after. */
export function patchMessage(m: ViewMessage, p: MessagePatch): ViewMessage {
  if (m.deleted) return m;
  if (p.deleted) {
    const { editedAt: _edited, ...rest } = m;
    return { ...rest, body: '', deleted: true };
  }
  return { ...m, body: p.body, ...(p.editedAt !== undefined ? { editedAt: p.editedAt } : {}) };
}

const str = (v: unknown): v is string => typeof v === 'string';

/** The change a record makes to the view; null for records the view ignores (other types, bad data). */
export function chatChangeOf(record: PublicRecord): ChatChange | null {
  if (record.type !== 'ChatStarted' && record.type !== 'MessageSent' && record.type !== 'MessageEdited' && record.type !== 'MessageDeleted') return null;
  const d = record.data;
  const chatId = str(d['chatId']) ? d['chatId'] : record.streamId.startsWith('chat-') ? record.streamId.slice(5) : null;
  if (chatId === null || chatId === '') return null;
  // ChatStarted is always revision 0 of its stream; anything else is not a chat stream we understand.
  if (record.type === 'ChatStarted') return record.revision === 0 ? { kind: 'started', chatId, revision: 0 } : null;
  if (record.revision < 1) return null;
  if (record.type === 'MessageEdited') {
    const { messageId, body, editedAt } = d;
    if (!str(messageId) || !str(body) || !str(editedAt)) return null;
    return { kind: 'patch', chatId, revision: record.revision, patch: { messageId, body, editedAt } };
  }
  if (record.type === 'MessageDeleted') {
    const { messageId } = d;
    if (!str(messageId)) return null;
    return { kind: 'patch', chatId, revision: record.revision, patch: { messageId, body: '', deleted: true } };
  }
  const { messageId, senderId, clientMessageId, body, sentAt } = d;
  if (!str(messageId) || !str(senderId) || !str(clientMessageId) || !str(body) || !str(sentAt)) return null;
  const message: ViewMessage = { chatId, messageId, senderId, clientMessageId, body, sentAt, revision: record.revision, position: record.position };
  return { kind: 'message', chatId, revision: record.revision, message };
}

/** Validates a stored message (it came back from Redis: do not trust its shape). */
export function parseViewMessage(json: string): ViewMessage | null {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const m = v as Record<string, unknown>;
  const { chatId, messageId, senderId, clientMessageId, body, sentAt, revision, position } = m;
  if (!str(chatId) || !str(messageId) || !str(senderId) || !str(clientMessageId) || !str(body) || !str(sentAt) || !str(position)) return null;
  if (typeof revision !== 'number' || !Number.isInteger(revision)) return null;
  const { editedAt, deleted } = m;
  return {
    chatId, messageId, senderId, clientMessageId, body: deleted === true ? '' : body, sentAt, revision, position,
    ...(str(editedAt) && deleted !== true ? { editedAt } : {}), ...(deleted === true ? { deleted: true as const } : {}),
  };
}

/** The revision window a read asks for (bounds exclusive). */
export interface ReadWindow {
  mode: 'newest' | 'oldest';
  /** Exclusive lower bound (afterRevision) or 0. */
  after: number;
  /** Exclusive upper bound (beforeRevision) or +Infinity. */
  before: number;
  limit: number;
}

export function windowOf(opts: ReadOptions): ReadWindow {
  const limit = Number.isFinite(opts.limit) ? Math.max(0, Math.floor(opts.limit)) : 0;
  const after = opts.afterRevision ?? 0;
  const before = opts.beforeRevision ?? Number.POSITIVE_INFINITY;
  if (opts.afterRevision === undefined) return { mode: 'newest', after, before, limit };
  return { mode: 'oldest', after, before, limit };
}

/** What a read saw of one chat in the view, for isComplete. */
export interface HeldRange {
  lastRevision: number;
  /** Revision of the oldest message held; null when none is. */
  lowestHeld: number | null;
  /** Messages the read returned (at most the window's limit). */
  pageLength: number;
}

/**
 * Whether the view holds every message the read asked for. Revisions are not all messages: edits and
 * deletes take revisions of their own. What the view does guarantee is that it holds every message of
 * the chat from its oldest held one up (it only ever drops the oldest, and a backfill takes the newest
 * events whole), and a chat's first message is revision 1 (ChatStarted is 0). So:
 * - from revision 1 up, it holds everything;
 * - newest-first, a full page is the right one: nothing newer within the window can be missing;
 * - otherwise the window must not reach below the oldest message held.
 */
export function isComplete(w: ReadWindow, held: HeldRange): boolean {
  const top = Math.min(w.before - 1, held.lastRevision);
  const bottom = w.after + 1;
  if (top < bottom || w.limit === 0) return true; // nothing requested, nothing missing
  // No message held: the view vouches only for revisions after its last.
  const lowest = held.lowestHeld ?? held.lastRevision + 1;
  if (lowest <= 1) return true;
  if (w.mode === 'newest' && held.pageLength >= w.limit) return true;
  return bottom >= lowest;
}

/**
 * Picks the page from the held messages (ascending by revision) the way both adapters must. When the
 * view does not hold the whole window, this is picked from the held part of it (and the page is not
 * complete: a caller must not serve it).
 */
export function selectPage(held: ViewMessage[], w: ReadWindow): ViewMessage[] {
  const inRange = held.filter((m) => m.revision > w.after && m.revision < w.before);
  return w.mode === 'oldest' ? inRange.slice(0, w.limit) : inRange.slice(Math.max(0, inRange.length - w.limit));
}
