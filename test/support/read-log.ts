// The whole log as readAll hands it out, page by page.
import type { EventStore, RecordedEvent } from '../../commands/ports/event-store.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Every event of the log; read again (for up to `ms`) until there are at least `atLeast`, should a
 * transaction elsewhere in the cluster hold fresh events back.
 */
export async function readWholeLog(store: EventStore, atLeast: number, ms = 5000): Promise<RecordedEvent[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const all: RecordedEvent[] = [];
    let after = 0n;
    for (;;) {
      const page = await store.readAll({ after, maxCount: 1000 });
      all.push(...page);
      if (page.length < 1000) break;
      after = page[page.length - 1]!.position;
    }
    if (all.length >= atLeast || Date.now() > deadline) return all;
    await sleep(50);
  }
}
