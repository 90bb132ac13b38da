/**
 * Batches from a live subscription, for its consumers that write in bulk (the relay's confirm rounds,
 * the last-messages view's script calls): a batch is what is already there, up to a size, so a
 * backlog goes out in large batches while live traffic keeps its latency.
 */
import type { RecordedEvent, Subscription } from '../../commands/ports/event-store.js';

const LINGER_OVER = Symbol('linger-over');

/**
 * Groups a live subscription into batches: up to `size` events, or fewer when no further event
 * arrives within `lingerMs` of the batch's first. A pending read is carried over, never dropped, so
 * racing it against the timer loses nothing.
 */
export async function* batchesOf(sub: Subscription, size: number, lingerMs: number): AsyncGenerator<RecordedEvent[]> {
  const it = sub[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<RecordedEvent>> | null = null;
  for (;;) {
    pending ??= it.next();
    const first = await pending;
    pending = null;
    if (first.done) return;
    const batch = [first.value];
    let timer: NodeJS.Timeout | undefined;
    const lingerOver = new Promise<typeof LINGER_OVER>((resolve) => {
      timer = setTimeout(() => resolve(LINGER_OVER), lingerMs);
    });
    let ended = false;
    try {
      while (batch.length < size) {
        pending ??= it.next();
        const r = await Promise.race([pending, lingerOver]);
        if (r === LINGER_OVER) break;
        pending = null;
        if (r.done) {
          ended = true;
          break;
        }
        batch.push(r.value);
      }
    } finally {
      clearTimeout(timer);
    }
    yield batch;
    if (ended) return;
  }
}
