/**
 * Coalescing of one reader's marks of one chat in this gateway process (docs/websocket.md, "Read
 * receipts and unread counts"). A page in view marks each message as it arrives, so a busy chat
 * would cost a ChatRead append, a log event and four frames per message. Marks are monotonic: the
 * highest says all that the lower ones do. So the first mark of a (reader, chat) goes at once, and
 * marks that come while an append of that pair is being written, or within the window after it
 * started, wait and go together as one mark of the highest revision when the window ends. Each
 * waiting frame is answered when the append that covers it commits (or with its error).
 *
 * Only marks the caller has checked to be within the chat go through here: one mark past the chat's
 * newest revision would make the merged mark fail for all the frames it covers.
 */
import type { CommandResult } from '../../commands/deps.js';
import type { ReadMarked } from '../../commands/mark-read.js';

export interface CoalescerCounters {
  /** Marks written (each one markRead, one ChatRead append at most). */
  readMarksRun: number;
  /** `read` frames answered by a mark another frame of the same reader and chat also waited for. */
  readsCoalesced: number;
}

type Run = (upToRevision: number) => Promise<CommandResult<ReadMarked>>;

interface Waiter {
  resolve(r: CommandResult<ReadMarked>): void;
  reject(err: unknown): void;
}

interface Slot {
  /** Highest revision asked for since the last mark started; -1: none. */
  wanted: number;
  waiters: Waiter[];
  run: Run | null;
  running: boolean;
  /** performance.now() when this pair's last mark started. */
  startedAt: number;
  /** When this pair's window ends: startedAt plus the window, stretched by up to a quarter either way. */
  windowEnd: number;
  timer: NodeJS.Timeout | null;
}

export class ReadCoalescer {
  readonly #slots = new Map<string, Slot>();
  readonly #sweep: NodeJS.Timeout | null;

  constructor(private readonly windowMs: number, private readonly counters: CoalescerCounters) {
    // An idle slot only remembers when its last mark started; once the window has passed it says nothing.
    this.#sweep = windowMs > 0 ? setInterval(() => this.#dropIdle(), Math.max(windowMs, 1_000)) : null;
    this.#sweep?.unref();
  }

  /** Marks `key` (the reads stream) up to `upToRevision`, through `run`, merged with the pair's other marks of the window. */
  mark(key: string, upToRevision: number, run: Run): Promise<CommandResult<ReadMarked>> {
    if (this.windowMs <= 0) {
      this.counters.readMarksRun++;
      return run(upToRevision);
    }
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = { wanted: -1, waiters: [], run: null, running: false, startedAt: -Infinity, windowEnd: -Infinity, timer: null };
      this.#slots.set(key, slot);
    }
    const s = slot;
    return new Promise((resolve, reject) => {
      s.waiters.push({ resolve, reject });
      if (upToRevision > s.wanted) s.wanted = upToRevision;
      s.run = run;
      this.#schedule(s);
    });
  }

  /** Starts every waiting mark now (the gateway is closing). */
  flushAll(): void {
    if (this.#sweep) clearInterval(this.#sweep);
    for (const slot of this.#slots.values()) {
      if (slot.timer) clearTimeout(slot.timer);
      slot.timer = null;
      if (!slot.running && slot.waiters.length > 0) this.#start(slot);
    }
  }

  #schedule(slot: Slot): void {
    if (slot.running || slot.timer || slot.waiters.length === 0) return;
    const wait = slot.windowEnd - performance.now();
    if (wait <= 0) return this.#start(slot);
    slot.timer = setTimeout(() => {
      slot.timer = null;
      this.#start(slot);
    }, wait);
  }

  #start(slot: Slot): void {
    const waiters = slot.waiters;
    const upTo = slot.wanted;
    const run = slot.run!;
    slot.waiters = [];
    slot.wanted = -1;
    slot.running = true;
    slot.startedAt = performance.now();
    // Readers whose marks began together (a page opening many chats, a burst of deliveries) would
    // otherwise append together at every window's end, a burst that delays sends: jitter spreads them.
    slot.windowEnd = slot.startedAt + this.windowMs * (0.75 + Math.random() * 0.5);
    this.counters.readMarksRun++;
    this.counters.readsCoalesced += waiters.length - 1;
    void run(upTo).then(
      (r) => {
        for (const w of waiters) w.resolve(r);
      },
      (err: unknown) => {
        for (const w of waiters) w.reject(err);
      },
    ).finally(() => {
      slot.running = false;
      this.#schedule(slot);
    });
  }

  #dropIdle(): void {
    const now = performance.now();
    for (const [key, slot] of this.#slots) {
      if (!slot.running && !slot.timer && slot.waiters.length === 0 && now - slot.startedAt >= this.windowMs) this.#slots.delete(key);
    }
  }
}
