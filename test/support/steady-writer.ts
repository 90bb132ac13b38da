// A steady stream of messages into chats of an event store, paced by the clock, and how far a
// projection is behind it: the load under which the last-messages test and bench stall Redis.
import { randomUUID } from 'node:crypto';
import type { EventStore } from '../../commands/ports/event-store.js';
import { toEventData } from '../../commands/ports/codec.js';
import { chatStreamId, type ChatStarted, type MessageSent } from '../../domain/events.js';

export interface SteadyWriter {
  /** The chat ids, each started before the first message; messages go round them in turn. */
  chats: string[];
  /** The position of the last message appended (0n: none yet). */
  last(): bigint;
  /** Messages appended after position `at`: what a reader that has applied up to `at` still owes. */
  behind(at: bigint): number;
  /** Stops writing; resolves after the last append. */
  stop(): Promise<void>;
}

const TICK_MS = 20;

/** Starts `chats` chats, then appends `rate` messages a second, one append each, to the next chat. */
export async function startSteadyWriter(store: EventStore, o: { chats: number; rate: number; label: string }): Promise<SteadyWriter> {
  const chats = Array.from({ length: o.chats }, (_, i) => `${o.label}${i}:${randomUUID().slice(0, 6)}`);
  for (const chatId of chats) {
    const started: ChatStarted = { type: 'ChatStarted', version: 1, data: { chatId, participants: ['u1', 'u2'], startedBy: 'u1', at: new Date().toISOString() } };
    await store.append(chatStreamId(chatId), [toEventData(started, randomUUID())], 'no_stream');
  }
  const positions: bigint[] = [];
  let writing = true;
  let n = 0;
  const writer = (async () => {
    const started = Date.now();
    while (writing) {
      // Paced by the clock, so a slow tick is made up for: the rate holds whatever the machine does.
      const due = Math.floor(((Date.now() - started) * o.rate) / 1000);
      while (n < due) {
        const chatId = chats[n++ % chats.length]!;
        const sent: MessageSent = {
          type: 'MessageSent', version: 2,
          data: { chatId, messageId: randomUUID(), senderId: 'u1', clientMessageId: randomUUID(), body: `message ${n}`, sentAt: new Date().toISOString() },
        };
        positions.push((await store.append(chatStreamId(chatId), [toEventData(sent, randomUUID())], 'any')).position);
      }
      await new Promise((r) => setTimeout(r, TICK_MS));
    }
  })();
  return {
    chats,
    last: () => positions[positions.length - 1] ?? 0n,
    behind(at) {
      let count = 0;
      for (let i = positions.length - 1; i >= 0 && positions[i]! > at; i--) count++;
      return count;
    },
    async stop() {
      writing = false;
      await writer;
    },
  };
}
