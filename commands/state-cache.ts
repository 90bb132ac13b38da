/**
 * Folded aggregate states by stream, least recently used dropped first. A state folded up to
 * revision r stays valid forever (events are immutable), so a command only reads what came after.
 */
import type { RecordedEvent } from '../infra/event-store/port.js';

export interface CachedState<S> {
  state: S;
  /** Revision of the last event folded in; -1 for a stream not yet seen. */
  revision: number;
}

/** Folds one more recorded event into a state (the stream's decider, behind the codec). */
export type FoldRecorded<S> = (state: S, recorded: RecordedEvent) => S;

interface Entry extends CachedState<unknown> {
  fold: FoldRecorded<unknown>;
}

export class StateCache {
  private readonly entries = new Map<string, Entry>();
  constructor(private readonly capacity = 10_000) {}

  get<S>(streamId: string): CachedState<S> | undefined {
    const hit = this.entries.get(streamId);
    if (hit) {
      this.entries.delete(streamId);
      this.entries.set(streamId, hit);
    }
    return hit as CachedState<S> | undefined;
  }

  set<S>(streamId: string, value: CachedState<S>, fold: FoldRecorded<S>): void {
    this.entries.delete(streamId);
    this.entries.set(streamId, { state: value.state, revision: value.revision, fold: fold as FoldRecorded<unknown> });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  /**
   * Folds an event from the log into the cached state of its stream when it is the very next one.
   * Anything else is left alone: an older event is already in, and after a gap the entry is merely
   * stale, which a command's expected revision catches. Does not count as a use for the LRU order.
   */
  observe(recorded: RecordedEvent): void {
    const hit = this.entries.get(recorded.streamId);
    if (!hit || hit.revision !== recorded.revision - 1) return;
    hit.state = hit.fold(hit.state, recorded);
    hit.revision = recorded.revision;
  }

  delete(streamId: string): void {
    this.entries.delete(streamId);
  }
}
