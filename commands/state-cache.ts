/**
 * Folded aggregate states by stream, least recently used dropped first. A state folded up to
 * revision r stays valid forever (events are immutable), so a command only reads what came after.
 */
export interface CachedState<S> {
  state: S;
  /** Revision of the last event folded in; -1 for a stream not yet seen. */
  revision: number;
}

export class StateCache {
  private readonly entries = new Map<string, CachedState<unknown>>();
  constructor(private readonly capacity = 10_000) {}

  get<S>(streamId: string): CachedState<S> | undefined {
    const hit = this.entries.get(streamId);
    if (hit) {
      this.entries.delete(streamId);
      this.entries.set(streamId, hit);
    }
    return hit as CachedState<S> | undefined;
  }

  set<S>(streamId: string, value: CachedState<S>): void {
    this.entries.delete(streamId);
    this.entries.set(streamId, value);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  delete(streamId: string): void {
    this.entries.delete(streamId);
  }
}
