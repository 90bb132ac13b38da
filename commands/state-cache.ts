/**
 * Folded aggregate states by stream, least recently used dropped first. A state folded up to
 * revision r stays valid forever (events are immutable), so a command only reads what came after.
 *
 * Bounded by weight, not by entry count: a chat state remembers up to DEDUPE_WINDOW recent
 * clientMessageIds, so ten thousand busy chats would hold far more memory than ten thousand users.
 * Each stream kind weighs its states (domain Decider.weight, in remembered items of a few hundred
 * bytes each); the cache keeps the sum under its budget.
 */
import { LRUCache } from 'lru-cache';
import type { RecordedEvent } from './ports/event-store.js';

export interface CachedState<S> {
  state: S;
  /** Revision of the last event folded in; -1 for a stream not yet seen. */
  revision: number;
}

/** Folds one more recorded event into a state (the stream's decider, behind the codec). */
export type FoldRecorded<S> = (state: S, recorded: RecordedEvent) => S;

/** How a stream's state is folded from the log and what it weighs in the cache. */
export interface Folding<S> {
  fold: FoldRecorded<S>;
  weigh(state: S): number;
}

interface Entry extends CachedState<unknown> {
  folding: Folding<unknown>;
  weight: number;
  /** The size lru-cache was given for this entry when it was set (see `#unsized`). */
  sized: number;
}

/**
 * Default budget: a million remembered items, about 250 MB at worst (240 bytes each, measured).
 * Enough for a thousand chats with full windows: past the budget, a workload that cycles through
 * more streams than fit misses on every command (LRU), and each miss reads the whole stream again.
 */
export const DEFAULT_CACHE_WEIGHT = 1_000_000;

export class StateCache {
  readonly #budget: number;
  readonly #entries: LRUCache<string, Entry>;
  /**
   * Weight lru-cache does not know of: what entries gained through observe() since they were set,
   * and the part of an entry heavier than the whole budget. lru-cache learns a size only through
   * set(), which also marks the entry used, and observe() must not; and it refuses an entry larger
   * than maxSize, where the newest entry must stay. So it gets min(weight, budget) at set(), and
   * the rest is counted here and evicted for by #evict().
   */
  #unsized = 0;

  constructor(budget = DEFAULT_CACHE_WEIGHT) {
    this.#budget = budget;
    this.#entries = new LRUCache<string, Entry>({
      maxSize: budget,
      sizeCalculation: (entry) => entry.sized,
      dispose: (entry) => {
        this.#unsized -= entry.weight - entry.sized;
      },
    });
  }

  /** Number of cached streams, and their summed weight (metrics). */
  get size(): { streams: number; weight: number } {
    return { streams: this.#entries.size, weight: this.#entries.calculatedSize + this.#unsized };
  }

  get<S>(streamId: string): CachedState<S> | undefined {
    return this.#entries.get(streamId) as CachedState<S> | undefined;
  }

  /** Caches a state; one older than what is cached (the log moved the entry on meanwhile) is dropped. */
  set<S>(streamId: string, value: CachedState<S>, folding: Folding<S>): void {
    if ((this.#entries.peek(streamId)?.revision ?? -1) > value.revision) return;
    const weight = Math.max(1, folding.weigh(value.state));
    // A whole number for lru-cache; at most the budget, so that it keeps this entry (evicting all others).
    const sized = Math.min(this.#budget, Math.ceil(weight));
    this.#entries.set(streamId, { state: value.state, revision: value.revision, folding: folding as Folding<unknown>, weight, sized });
    this.#unsized += weight - sized;
    this.#evict();
  }

  /**
   * Folds an event from the log into the cached state of its stream when it is the very next one.
   * Anything else is left alone: an older event is already in, and after a gap the entry is merely
   * stale, which a command's expected revision catches. Does not count as a use for the LRU order.
   */
  observe(recorded: RecordedEvent): void {
    const hit = this.#entries.peek(recorded.streamId);
    if (!hit || hit.revision !== recorded.revision - 1) return;
    hit.state = hit.folding.fold(hit.state, recorded);
    hit.revision = recorded.revision;
    const weight = Math.max(1, hit.folding.weigh(hit.state));
    this.#unsized += weight - hit.weight;
    hit.weight = weight;
    this.#evict();
  }

  delete(streamId: string): void {
    this.#entries.delete(streamId);
  }

  /** lru-cache has kept its own part of the budget; this drops the least recently used for the rest. */
  #evict(): void {
    // The newest entry stays even if it alone is over the budget: a command is using it.
    while (this.size.weight > this.#budget && this.#entries.size > 1) this.#entries.pop();
  }
}
