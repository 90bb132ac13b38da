/**
 * What every adapter's subscribeToAll shares: an async iterator over events in position order that
 * hands each out once, never at or below the position already handed out, with next() calls
 * serialized so that two concurrent callers never receive the same event, and `break` out of
 * for-await ending the subscription. An adapter says only how to get the next events and how to
 * let go: nextPage() reads (catching up) or waits (live) as its store needs.
 */
import type { RecordedEvent, Subscription } from '../../commands/ports/event-store.js';

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

export abstract class PagedSubscription implements Subscription {
  /** Position of the last event handed out; only ever moves forward. */
  #after: bigint;
  #buffer: RecordedEvent[] = [];
  #stopped = false;
  /** Serializes next() calls. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(after: bigint) {
    this.#after = after;
  }

  /**
   * The next events after `after`, in position order, waiting as long as it takes for some. It may
   * resolve with none (it is asked again), and should once stop() has been called. An error it
   * throws reaches the caller of next().
   */
  protected abstract nextPage(after: bigint): Promise<RecordedEvent[]>;

  /** Ends any wait in nextPage() and releases what the subscription holds; called once, by stop(). */
  protected abstract release(): void | Promise<void>;

  protected get stopped(): boolean {
    return this.#stopped;
  }

  [Symbol.asyncIterator](): AsyncIterator<RecordedEvent> {
    return {
      next: () => this.#next(),
      return: async () => {
        await this.stop();
        return DONE;
      },
    };
  }

  /** Ends the iteration; a pending next() resolves as done. Safe to call more than once. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#buffer = [];
    await this.release();
  }

  #next(): Promise<IteratorResult<RecordedEvent>> {
    const result = this.#queue.then(() => this.#pull());
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #pull(): Promise<IteratorResult<RecordedEvent>> {
    for (;;) {
      if (this.#stopped) return DONE;
      const next = this.#buffer.shift();
      if (next) {
        if (next.position <= this.#after) continue;
        this.#after = next.position;
        return { done: false, value: next };
      }
      const page = await this.nextPage(this.#after);
      if (!this.#stopped) this.#buffer = page;
    }
  }
}

/**
 * A subscription's wait: `slept` resolves after `ms`, or as soon as end() is called (an append, a
 * notification, stop()); `onEnd` runs then, once per end(). Hand-written on purpose: the same through
 * node:timers/promises' setTimeout with an AbortSignal cost ~200 µs per early wake-up against ~5 µs
 * for this (measured, 50,000 wake-ups), the AbortError it throws being the bulk, and a live
 * subscription is woken early by every append.
 */
export function wakeableSleep(ms: number, onEnd?: () => void): { slept: Promise<void>; end: () => void } {
  let end: () => void = () => undefined;
  const slept = new Promise<void>((resolve) => {
    const timer = setTimeout(() => end(), ms);
    end = () => {
      clearTimeout(timer);
      onEnd?.();
      resolve();
    };
  });
  return { slept, end };
}
