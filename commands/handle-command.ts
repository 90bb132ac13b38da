/**
 * The one generic command handler: read the stream, fold, decide, append with the expected
 * revision, and on a concurrency conflict fold what the winner wrote and decide again.
 */
import type { Decider } from '../domain/decider.js';
import type { DomainError } from '../domain/errors.js';
import type { DomainEvent } from '../domain/events.js';
import { toDomainEvent, toEventData } from '../infra/event-store/codec.js';
import { WrongExpectedRevisionError, type EventStore } from '../infra/event-store/port.js';
import { KeyedMutex } from './keyed-mutex.js';
import { StateCache } from './state-cache.js';

export interface CommandBus {
  store: EventStore;
  maxRetries: number;
  cache: StateCache;
  mutex: KeyedMutex;
}

export function createCommandBus(store: EventStore, opts: { maxRetries?: number; cacheSize?: number } = {}): CommandBus {
  return { store, maxRetries: opts.maxRetries ?? 10, cache: new StateCache(opts.cacheSize), mutex: new KeyedMutex() };
}

export interface AppendedEvent<E> {
  event: E;
  id: string;
  revision: number;
  position: bigint;
}

export type CommandOutcome<S, E> =
  | { ok: true; state: S; appended: AppendedEvent<E>[]; revision: number }
  | { ok: false; error: DomainError };

export class ConcurrencyRetriesExhaustedError extends Error {
  readonly code = 'CONCURRENCY_CONFLICT';
  constructor(readonly streamId: string, readonly attempts: number) {
    super(`Stream ${streamId} kept changing: gave up after ${attempts} attempts`);
    this.name = 'ConcurrencyRetriesExhaustedError';
  }
}

const PAGE = 1000;
const MAX_BACKOFF_MS = 50;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function catchUp<C, S, E extends DomainEvent>(bus: CommandBus, streamId: string, decider: Decider<C, S, E>): Promise<{ state: S; revision: number }> {
  const cached = bus.cache.get<S>(streamId);
  let state = cached?.state ?? decider.initialState;
  let revision = cached?.revision ?? -1;
  for (;;) {
    const page = await bus.store.readStream(streamId, { fromRevision: revision + 1, maxCount: PAGE });
    for (const recorded of page) {
      const event = toDomainEvent(recorded);
      // An event type this version of the code does not know cannot change what it decides.
      if (event) state = decider.evolve(state, event as E, { revision: recorded.revision, position: recorded.position });
      revision = recorded.revision;
    }
    if (page.length < PAGE) break;
  }
  bus.cache.set(streamId, { state, revision });
  return { state, revision };
}

/** Reads the current state of a stream without deciding anything (used for cross-stream checks). */
export function loadState<C, S, E extends DomainEvent>(bus: CommandBus, streamId: string, decider: Decider<C, S, E>): Promise<{ state: S; revision: number }> {
  return bus.mutex.run(streamId, () => catchUp(bus, streamId, decider));
}

export function handleCommand<C, S, E extends DomainEvent>(
  bus: CommandBus,
  args: { streamId: string; decider: Decider<C, S, E>; command: C; eventIds: (event: E, index: number) => string },
): Promise<CommandOutcome<S, E>> {
  const { streamId, decider, command } = args;
  return bus.mutex.run(streamId, async () => {
    for (let attempt = 1; attempt <= bus.maxRetries + 1; attempt++) {
      let { state, revision } = await catchUp(bus, streamId, decider);
      const decision = decider.decide(command, state);
      if (!decision.ok) return { ok: false, error: decision.error };
      if (decision.events.length === 0) return { ok: true, state, appended: [], revision };
      const ids = decision.events.map((e, i) => args.eventIds(e, i));
      try {
        const result = await bus.store.append(
          streamId,
          decision.events.map((e, i) => toEventData(e, ids[i]!)),
          revision < 0 ? 'no_stream' : revision,
        );
        const first = result.nextRevision - decision.events.length + 1;
        const appended = decision.events.map((event, i) => ({ event, id: ids[i]!, revision: first + i, position: result.position }));
        for (const a of appended) state = decider.evolve(state, a.event, { revision: a.revision, position: a.position });
        revision = result.nextRevision;
        bus.cache.set(streamId, { state, revision });
        return { ok: true, state, appended, revision };
      } catch (err) {
        if (!(err instanceof WrongExpectedRevisionError)) throw err;
        // Another process wrote first: the next attempt folds its events and decides again. A short,
        // random, growing pause keeps two busy writers from colliding on every attempt (livelock).
        await sleep(Math.random() * Math.min(MAX_BACKOFF_MS, 2 ** attempt));
      }
    }
    throw new ConcurrencyRetriesExhaustedError(streamId, bus.maxRetries + 1);
  });
}
