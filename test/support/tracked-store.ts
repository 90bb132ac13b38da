// On PostgreSQL, headPosition() is the newest position readers can see: it stays below a fresh append
// while any older transaction anywhere in the cluster is still open (infra/event-store/postgres.ts).
// A test that waits for "everything I wrote" must first wait for the head to reach the newest position
// its own appends returned: with other test files running, the head can trail by a few events, and a
// feed stopped at it leaves them unprojected (a flaky CI failure, seen in audit verify).
import type { EventStore } from '../../commands/ports/event-store.js';

const newest = new WeakMap<EventStore, bigint>();

/** The store with some of its methods replaced; the rest forward to it. */
export function wrapStore(inner: EventStore, overrides: Partial<Omit<EventStore, 'kind'>>): EventStore {
  return {
    kind: inner.kind,
    append: (...args) => inner.append(...args),
    readStream: (...args) => inner.readStream(...args),
    readAll: (...args) => inner.readAll(...args),
    subscribeToAll: (...args) => inner.subscribeToAll(...args),
    headPosition: () => inner.headPosition(),
    close: () => inner.close(),
    ...overrides,
  };
}

/** The store, remembering the newest position any append through it returned. */
export function tracked(store: EventStore): EventStore {
  const wrapper: EventStore = wrapStore(store, {
    async append(...args) {
      const r = await store.append(...args);
      if (r.position > (newest.get(wrapper) ?? 0n)) newest.set(wrapper, r.position);
      return r;
    },
  });
  return wrapper;
}

/** The newest position an append through this (tracked) store returned; 0n if none or untracked. */
export const newestAppended = (store: EventStore): bigint => newest.get(store) ?? 0n;

/**
 * The head once every append made through this (tracked) store is visible to readers: waits out
 * whatever older transaction holds it back. Untracked stores: the head as it is.
 */
export async function settledHead(store: EventStore, timeoutMs = 20_000): Promise<bigint> {
  const mine = newestAppended(store);
  for (const deadline = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 10))) {
    const head = await store.headPosition();
    if (head >= mine) return head;
    if (Date.now() > deadline) throw new Error(`the log head stayed at ${head}, behind the newest append ${mine}, for ${timeoutMs} ms`);
  }
}
