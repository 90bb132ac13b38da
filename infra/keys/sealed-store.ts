/**
 * The event store as every process but the relay sees it: appends seal personal fields, reads and
 * subscriptions open them (seal-events.ts). The relay reads the raw store underneath, so RabbitMQ
 * carries ciphertext, and the projector opens it with the key store (unsealing-sink.ts).
 */
import type { AppendResult, EventData, EventStore, ExpectedRevision, ReadAllOptions, ReadStreamOptions, RecordedEvent, SubscribeOptions, Subscription } from '../../commands/ports/event-store.js';
import type { KeyRing } from './ring.js';
import { openRecorded, sealEvents } from './seal-events.js';

export class SealedEventStore implements EventStore {
  readonly raw: EventStore;
  readonly ring: KeyRing;

  constructor(raw: EventStore, ring: KeyRing) {
    this.raw = raw;
    this.ring = ring;
  }

  get kind(): EventStore['kind'] {
    return this.raw.kind;
  }

  // Not async: an append whose keys are cached goes straight to the store, with no promise of its own.
  append(streamId: string, events: EventData[], expected: ExpectedRevision): Promise<AppendResult> {
    let sealed: EventData[] | Promise<EventData[]>;
    try {
      sealed = sealEvents(events, this.ring);
    } catch (err) {
      return Promise.reject(err);
    }
    return sealed instanceof Promise ? sealed.then((s) => this.raw.append(streamId, s, expected)) : this.raw.append(streamId, sealed, expected);
  }

  async readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    const stored = await this.raw.readStream(streamId, options);
    return options?.leaveSealed === true ? stored : openRecorded(stored, this.ring);
  }

  async readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    return openRecorded(await this.raw.readAll(options), this.ring);
  }

  subscribeToAll(options?: SubscribeOptions): Subscription {
    const inner = this.raw.subscribeToAll(options);
    const ring = this.ring;
    async function* opened(): AsyncGenerator<RecordedEvent> {
      const it = inner[Symbol.asyncIterator]();
      try {
        for (;;) {
          const next = await it.next();
          if (next.done) return;
          // One by one: a subscription hands out events as they come, and a live reader must not wait
          // for a batch to fill. The ring's cache makes the common case a map lookup.
          for (const e of await openRecorded([next.value], ring)) yield e;
        }
      } finally {
        await it.return?.();
      }
    }
    const gen = opened();
    return {
      [Symbol.asyncIterator]: () => gen,
      stop: async () => {
        await inner.stop();
      },
    };
  }

  headPosition(): Promise<bigint> {
    return this.raw.headPosition();
  }

  async close(): Promise<void> {
    await this.raw.close();
    await this.ring.store.close();
  }
}
