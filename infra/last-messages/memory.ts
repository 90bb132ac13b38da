/**
 * In-process last-messages view: the zero-setup default for the embedded deployment, with the same
 * semantics as the Redis adapter (epoch, state, checkpoint, revision guard, capacity). It starts
 * empty, like a Redis that was just flushed, so the projection's first act is a rebuild.
 */
import { randomUUID } from 'node:crypto';
import type { PublicRecord } from '../../projections/ports/public-record.js';
import { DEFAULT_VIEW_CAPACITY, chatChangeOf, patchMessage, isComplete, selectPage, windowOf } from '../../projections/ports/last-messages.js';
import type {
  ApplyResult, BatchProgress, LastMessagesViewAdmin, ReadOptions, ViewMessage, ViewPage, ViewState, ViewStateName,
} from '../../projections/ports/last-messages.js';

interface ChatEntry {
  last: number;
  /** Ascending by revision, at most `capacity`. */
  messages: ViewMessage[];
}

export class MemoryLastMessagesView implements LastMessagesViewAdmin {
  readonly capacity: number;
  #epoch: string | null = null;
  #state: ViewStateName | null = null;
  #checkpoint: string | null = null;
  #builtFor: number | null = null;
  readonly #chats = new Map<string, ChatEntry>();

  /** capacity: config.lastMessagesSize, messages kept per chat. */
  constructor(opts: { capacity?: number } = {}) {
    this.capacity = opts.capacity ?? DEFAULT_VIEW_CAPACITY;
  }

  async apply(record: PublicRecord): Promise<ApplyResult> {
    const change = chatChangeOf(record);
    if (!change) return 'ignored';
    const entry = this.#chats.get(change.chatId);
    if (entry) {
      if (change.revision <= entry.last) return 'duplicate';
      if (change.revision !== entry.last + 1) return 'gap';
    } else if (change.revision > 1) {
      return 'gap';
    }
    const target = entry ?? { last: -1, messages: [] };
    if (change.kind === 'patch') {
      const i = target.messages.findIndex((m) => m.messageId === change.patch.messageId);
      if (i >= 0) target.messages[i] = patchMessage(target.messages[i]!, change.patch);
    } else if (change.kind === 'message') {
      target.messages.push(change.message);
      if (target.messages.length > this.capacity) target.messages.splice(0, target.messages.length - this.capacity);
    }
    target.last = change.revision;
    this.#chats.set(change.chatId, target);
    return 'applied';
  }

  async applyBatch(records: PublicRecord[], progress?: BatchProgress): Promise<ApplyResult[]> {
    const out: ApplyResult[] = [];
    for (const r of records) out.push(await this.apply(r));
    if (progress && progress.epoch === this.#epoch) this.#checkpoint = progress.checkpoint;
    return out;
  }

  async read(chatId: string, opts: ReadOptions): Promise<ViewPage | null> {
    if (this.#state !== 'ready' || this.#epoch === null) return null;
    const entry = this.#chats.get(chatId);
    if (!entry) return null;
    const w = windowOf(opts);
    // Copies: a caller must not be able to change the view through a page.
    const messages = selectPage(entry.messages, w).map((m) => ({ ...m }));
    return {
      epoch: this.#epoch,
      messages,
      lastRevision: entry.last,
      complete: isComplete(w, { lastRevision: entry.last, lowestHeld: entry.messages[0]?.revision ?? null, pageLength: messages.length }),
    };
  }

  async epoch(): Promise<string | null> {
    return this.#state === 'ready' ? this.#epoch : null;
  }

  async state(): Promise<ViewState> {
    return { epoch: this.#epoch, state: this.#state, checkpoint: this.#checkpoint, capacity: this.#builtFor };
  }

  async beginRebuild(): Promise<string> {
    const epoch = randomUUID();
    this.#state = 'rebuilding';
    this.#epoch = epoch;
    this.#checkpoint = null;
    this.#builtFor = this.capacity;
    this.#chats.clear();
    return epoch;
  }

  async replaceChat(chatId: string, messages: ViewMessage[], lastRevision: number): Promise<'applied' | 'stale'> {
    const entry = this.#chats.get(chatId);
    if (entry && entry.last >= lastRevision) return 'stale';
    const sorted = [...messages].sort((a, b) => a.revision - b.revision).slice(-this.capacity);
    this.#chats.set(chatId, { last: lastRevision, messages: sorted.map((m) => ({ ...m })) });
    return 'applied';
  }

  async finishRebuild(epoch: string, checkpoint: string): Promise<boolean> {
    if (this.#epoch !== epoch) return false;
    this.#checkpoint = checkpoint;
    this.#state = 'ready';
    return true;
  }

  async suspend(epoch: string): Promise<boolean> {
    if (this.#epoch !== epoch || this.#state !== 'ready') return false;
    this.#state = 'rebuilding';
    return true;
  }

  async heartbeat(epoch: string, checkpoint: string): Promise<boolean> {
    if (this.#epoch !== epoch || this.#state !== 'ready') return false;
    this.#checkpoint = checkpoint;
    return true;
  }

  onReconnect(): () => void {
    return () => {}; // never disconnects
  }

  /** Empties everything, as a Redis restart without persistence would (for tests and operators). */
  clear(): void {
    this.#epoch = null;
    this.#state = null;
    this.#checkpoint = null;
    this.#builtFor = null;
    this.#chats.clear();
  }

  /** Erasure (docs/privacy.md): forgets every chat of the user, as the Redis adapter does. */
  async forgetChatsOf(userId: string): Promise<void> {
    for (const chatId of [...this.#chats.keys()]) if (chatId.split(':').includes(userId)) this.#chats.delete(chatId);
  }

  /** Forgets one chat, as if its keys had been evicted. */
  forgetChat(chatId: string): void {
    this.#chats.delete(chatId);
  }

  async close(): Promise<void> {}
}
