/**
 * Folded aggregate states by stream, least recently used dropped first. A state folded up to
 * revision r stays valid forever (events are immutable), so a command only reads what came after.
 *
 * Bounded by weight, not by entry count: a chat state remembers up to DEDUPE_WINDOW recent
 * clientMessageIds, so ten thousand busy chats would hold far more memory than ten thousand users.
 * Each stream kind weighs its states (domain Decider.weight, in remembered items of a few hundred
 * bytes each); the cache keeps the sum under its budget.
 */
import type { RecordedEvent } from '../infra/event-store/port.js';

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
}

/**
 * Default budget: a million remembered items, about 250 MB at worst (240 bytes each, measured).
 * Enough for a thousand chats with full windows: past the budget, a workload that cycles through
 * more streams than fit misses on every command (LRU), and each miss reads the whole stream again.
 */
export const DEFAULT_CACHE_WEIGHT = 1_000_000;

export class StateCache {
  private readonly entries = new Map<string, Entry>();
  private total = 0;
  constructor(private readonly budget = DEFAULT_CACHE_WEIGHT) {}

  /** Number of cached streams, and their summed weight (metrics). */
  get size(): { streams: number; weight: number } {
    return { streams: this.entries.size, weight: this.total };
  }

  get<S>(streamId: string): CachedState<S> | undefined {
    const hit = this.entries.get(streamId);
    if (hit) {
      this.entries.delete(streamId);
      this.entries.set(streamId, hit);
    }
    return hit as CachedState<S> | undefined;
  }

  /** Caches a state; one older than what is cached (the log moved the entry on meanwhile) is dropped. */
  set<S>(streamId: string, value: CachedState<S>, folding: Folding<S>): void {
    if ((this.entries.get(streamId)?.revision ?? -1) > value.revision) return;
    this.delete(streamId);
    const weight = Math.max(1, folding.weigh(value.state));
    this.entries.set(streamId, { state: value.state, revision: value.revision, folding: folding as Folding<unknown>, weight });
    this.total += weight;
    this.#evict();
  }

  /**
   * Folds an event from the log into the cached state of its stream when it is the very next one.
   * Anything else is left alone: an older event is already in, and after a gap the entry is merely
   * stale, which a command's expected revision catches. Does not count as a use for the LRU order.
   */
  observe(recorded: RecordedEvent): void {
    const hit = this.entries.get(recorded.streamId);
    if (!hit || hit.revision !== recorded.revision - 1) return;
    hit.state = hit.folding.fold(hit.state, recorded);
    hit.revision = recorded.revision;
    const weight = Math.max(1, hit.folding.weigh(hit.state));
    this.total += weight - hit.weight;
    hit.weight = weight;
    this.#evict();
  }

  delete(streamId: string): void {
    const hit = this.entries.get(streamId);
    if (!hit) return;
    this.entries.delete(streamId);
    this.total -= hit.weight;
  }

  #evict(): void {
    // The newest entry stays even if it alone is over the budget: a command is using it.
    while (this.total > this.budget && this.entries.size > 1) this.delete(this.entries.keys().next().value as string);
  }
}
