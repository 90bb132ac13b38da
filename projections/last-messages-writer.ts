/**
 * What reaches the last-messages view, for LastMessagesProjection (last-messages.ts, which decides
 * when): a rebuild from the log, pages of the log, broker offers, and the backfill of a chat whose
 * revisions the view missed. It keeps the projection's checkpoint, which every write moves.
 */
import { CHAT_EVENT_TYPES, chatStreamId } from '../domain/events.js';
import { schemaVersionOf, toDomainEvent } from '../commands/ports/codec.js';
import type { EventStore, RecordedEvent } from '../commands/ports/event-store.js';
import { toPublicRecord, type PublicRecord } from './ports/public-record.js';
import { chatChangeOf, patchMessage, type BatchProgress, type LastMessagesViewAdmin, type ViewMessage } from './ports/last-messages.js';
import type { Logger } from 'pino';
import { CURRENT_READER, readRecord } from './runtime/event-reader.js';

export interface ViewWriterOptions {
  store: EventStore;
  view: LastMessagesViewAdmin;
  logger: Logger;
  /** Events per readAll page. */
  batchSize: number;
  /** True once the projection is stopping: a replay ends after its page. */
  stopping: () => boolean;
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class ViewWriter {
  /** Position of the last event applied. */
  checkpoint = 0n;
  readonly #store: EventStore;
  readonly #view: LastMessagesViewAdmin;
  readonly #log: Logger;
  readonly #batchSize: number;
  readonly #stopping: () => boolean;
  readonly #pendingBackfills = new Set<string>();
  #backfills = 0;
  #rebuilds = 0;
  #lastAppliedAt: Date | null = null;

  constructor(opts: ViewWriterOptions) {
    this.#store = opts.store;
    this.#view = opts.view;
    this.#log = opts.logger;
    this.#batchSize = opts.batchSize;
    this.#stopping = opts.stopping;
  }

  /** Chats backfilled so far. */
  get backfills(): number {
    return this.#backfills;
  }

  /** Rebuilds from scratch so far. */
  get rebuilds(): number {
    return this.#rebuilds;
  }

  /** When an event last reached the view. */
  get lastAppliedAt(): Date | null {
    return this.#lastAppliedAt;
  }

  /**
   * Empties the view under a new epoch (or resumes an interrupted rebuild), replays the log to the
   * head, marks it ready. Null if it must start over. `onEpoch`: the epoch being built, once known.
   */
  async rebuild(resume: { epoch: string; from: bigint } | null, onEpoch: (epoch: string) => void): Promise<{ epoch: string; from: bigint } | null> {
    const startedAt = Date.now();
    let epoch: string;
    if (resume) {
      epoch = resume.epoch;
      this.checkpoint = resume.from;
    } else {
      epoch = await this.#view.beginRebuild();
      this.#pendingBackfills.clear(); // the replay covers every chat again
      this.checkpoint = 0n;
      this.#rebuilds += 1;
    }
    onEpoch(epoch);
    const head = await this.#store.headPosition();
    this.#log.info({ epoch, head: head.toString(), from: this.checkpoint.toString() },
      resume ? 'last-messages view rebuild resuming' : 'last-messages view missing: rebuilding from the log');
    const pos = await this.replay(epoch, this.checkpoint, head);
    if (this.#stopping()) return null;
    if (!(await this.#view.finishRebuild(epoch, pos.toString()))) {
      this.#log.warn({ epoch }, 'last-messages view lost during rebuild; starting over');
      return null;
    }
    this.#log.info({ epoch, checkpoint: pos.toString(), ms: Date.now() - startedAt }, 'last-messages view rebuilt');
    return { epoch, from: pos };
  }

  /** Broker deliveries, live: the readable chat events and erasures go to the view; the checkpoint follows the newest. */
  async applyOffered(records: PublicRecord[]): Promise<void> {
    const readable: PublicRecord[] = [];
    let last = this.checkpoint;
    for (const r of records) {
      const position = BigInt(r.position);
      if (position > last) last = position;
      if (!CHAT_EVENT_TYPES.has(r.type) && r.type !== 'UserErased') continue;
      if (readRecord(r, CURRENT_READER).unknown) {
        this.#log.warn({ eventId: r.id, type: r.type, version: r.version }, 'last-messages: event of a version this release cannot read skipped');
        continue;
      }
      readable.push(r);
    }
    await this.#applyRecords(readable);
    this.checkpoint = last;
  }

  /** Applies readAll pages after `from` until caught up (or past `until`); returns the last position applied. */
  async replay(epoch: string, from: bigint, until: bigint | null): Promise<bigint> {
    let pos = from;
    while (!this.#stopping()) {
      if (until !== null && pos >= until) break;
      const page = await this.#store.readAll({ after: pos, maxCount: this.#batchSize });
      if (page.length === 0) break;
      const last = page[page.length - 1]!.position;
      await this.applyPage(page, { epoch, checkpoint: last.toString() });
      pos = last;
      // Broker-fed, applied offers may be ahead of the page (the callers reset it before a replay from scratch).
      if (pos > this.checkpoint) this.checkpoint = pos;
      if (page.length < this.#batchSize) break;
    }
    return pos;
  }

  /** A page of the log: its chat events and erasures (readable ones) to the view. */
  async applyPage(events: RecordedEvent[], progress?: BatchProgress): Promise<void> {
    const records: PublicRecord[] = [];
    for (const e of events) {
      if (!CHAT_EVENT_TYPES.has(e.type) && e.type !== 'UserErased') continue;
      const r = this.#publicRecord(e);
      if (r) records.push(r);
    }
    await this.#applyRecords(records, progress);
  }

  /** One round trip for the chat events (and, in a replay, its progress), then a backfill for each chat that reported a gap. */
  async #applyRecords(all: PublicRecord[], progress?: BatchProgress): Promise<void> {
    // Erasure (docs/privacy.md): the view forgets the user's chats, so a body it took in before the key
    // was destroyed goes; their next message is a gap, backfilled from the log where the bodies read as erased.
    for (const r of all) {
      const userId = r.type === 'UserErased' ? (r.data as { userId?: unknown } | null)?.userId : undefined;
      if (typeof userId === 'string') await this.#view.forgetChatsOf?.(userId);
    }
    const records = all.filter((r) => CHAT_EVENT_TYPES.has(r.type));
    if (records.length === 0 && !progress) return;
    const results = await this.#view.applyBatch(records, progress);
    results.forEach((result, i) => {
      const chatId = result === 'gap' ? chatChangeOf(records[i]!)?.chatId : undefined;
      if (chatId !== undefined) this.#pendingBackfills.add(chatId);
    });
    await this.backfillPending();
    this.#lastAppliedAt = new Date();
  }

  /**
   * Backfills stay pending until they succeed: the batch that found the gap may already have saved a
   * checkpoint past it, so a failed backfill is retried on the next pass rather than forgotten.
   */
  async backfillPending(): Promise<void> {
    for (const chatId of [...this.#pendingBackfills]) {
      await this.#backfill(chatId);
      this.#pendingBackfills.delete(chatId);
    }
  }

  /** Replaces the chat in the view with the newest messages of its stream (up to the stream's head). */
  async #backfill(chatId: string): Promise<void> {
    const events = await this.#store.readStream(chatStreamId(chatId), { direction: 'backwards', maxCount: this.#view.capacity });
    if (events.length === 0) return;
    const lastRevision = Math.max(...events.map((e) => e.revision));
    const messages: ViewMessage[] = [];
    // Oldest first, so an edit or delete among the events reaches its message (docs/projections.md).
    for (const e of [...events].sort((a, b) => a.revision - b.revision)) {
      const r = this.#publicRecord(e);
      const change = r ? chatChangeOf(r) : null;
      if (change?.kind === 'message') messages.push(change.message);
      if (change?.kind === 'patch') {
        const i = messages.findIndex((m) => m.messageId === change.patch.messageId);
        if (i >= 0) messages[i] = patchMessage(messages[i]!, change.patch);
      }
    }
    const result = await this.#view.replaceChat(chatId, messages, lastRevision);
    this.#backfills += 1;
    this.#log.info({ chatId, lastRevision, messages: messages.length, result }, 'last-messages chat backfilled after a gap');
  }

  /**
   * Bad data is skipped with a warning, never thrown: one broken event must not stop the view. So is a
   * schema version this release cannot read (a newer release wrote it): never guessed at. It stays out
   * of the view until a release that reads it backfills that chat (after a gap) or rebuilds the view.
   */
  #publicRecord(e: RecordedEvent): PublicRecord | null {
    try {
      if (toDomainEvent(e) === null) {
        this.#log.warn({ eventId: e.id, type: e.type, version: schemaVersionOf(e) }, 'last-messages: event of a version this release cannot read skipped');
        return null;
      }
      return toPublicRecord(e);
    } catch (err) {
      this.#log.warn({ eventId: e.id, streamId: e.streamId, revision: e.revision, err: errText(err) }, 'last-messages: unreadable event skipped');
      return null;
    }
  }
}
