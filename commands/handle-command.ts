/**
 * The one generic command handler: read the stream, fold, decide, append with the expected
 * revision, and on a concurrency conflict fold what the winner wrote and decide again.
 *
 * A bus whose cache is kept fresh from the event log (a gateway follows the log anyway: keepFresh)
 * skips the read when it holds the stream: it decides on the cached state and appends with the cached
 * revision, which the store checks, so a stale state costs a conflict and a read, never a wrong
 * write. Only a write is trusted that way: a rejection, or a decision to write nothing, decided on
 * an unread state is decided again on a read one before it is returned.
 */
import type { Decider } from '../domain/decider.js';
import type { DomainError } from '../domain/errors.js';
import type { DomainEvent } from '../domain/events.js';
import { toDomainEvent, toEventData } from './ports/codec.js';
import { WrongExpectedRevisionError, type EventStore, type RecordedEvent } from './ports/event-store.js';
import { KeyedMutex } from './keyed-mutex.js';
import { StateCache, type Folding } from './state-cache.js';
import pRetry, { type Options as RetryOptions } from 'p-retry';

export interface CommandBus {
  store: EventStore;
  maxRetries: number;
  cache: StateCache;
  mutex: KeyedMutex;
  /** Set by keepFresh: every committed event reaches the cache, so a cached state may be decided on unread. */
  cacheFollowsLog: boolean;
  /** Commands decided on an unread cached state, and those that then met a conflict (metrics). */
  readonly stats: { unreadDecisions: number; unreadConflicts: number };
}

export function createCommandBus(store: EventStore, opts: { maxRetries?: number; /** Cache budget in remembered items (state-cache.ts). */ cacheWeight?: number } = {}): CommandBus {
  return {
    store,
    maxRetries: opts.maxRetries ?? 10,
    cache: new StateCache(opts.cacheWeight),
    mutex: new KeyedMutex(),
    cacheFollowsLog: false,
    stats: { unreadDecisions: 0, unreadConflicts: 0 },
  };
}

/**
 * Hands the bus every committed event, in log order, from its caller's subscription: from now on
 * commands on cached streams skip their read. Returns the observer to call per event.
 */
export function keepFresh(bus: CommandBus): (recorded: RecordedEvent) => void {
  bus.cacheFollowsLog = true;
  return (recorded) => bus.cache.observe(recorded);
}

const foldings = new WeakMap<object, Folding<unknown>>();

/** The cache's view of a decider: fold recorded events (through the codec), weigh states. */
function folder<S, E extends DomainEvent>(decider: Decider<unknown, S, E>): Folding<S> {
  let f = foldings.get(decider) as Folding<S> | undefined;
  if (!f) {
    f = {
      fold: (state, recorded) => {
        const event = toDomainEvent(recorded);
        // An event type this version of the code does not know cannot change what it decides.
        return event ? decider.evolve(state, event as E, { revision: recorded.revision, position: recorded.position }) : state;
      },
      weigh: decider.weight ?? (() => 1),
    };
    foldings.set(decider, f as Folding<unknown>);
  }
  return f;
}

export interface AppendedEvent<E> {
  event: E;
  id: string;
  revision: number;
  position: bigint;
}

export type CommandOutcome<S, E> =
  | {
      ok: true;
      state: S;
      appended: AppendedEvent<E>[];
      revision: number;
      /** Set when the store already held every event id of the decision: where the last of them is. Nothing was appended. */
      alreadyStored?: { revision: number; position: bigint };
    }
  | { ok: false; error: DomainError };

export class ConcurrencyRetriesExhaustedError extends Error {
  readonly code = 'CONCURRENCY_CONFLICT';
  constructor(readonly streamId: string, readonly attempts: number) {
    super(`Stream ${streamId} kept changing: gave up after ${attempts} attempts`);
    this.name = 'ConcurrencyRetriesExhaustedError';
  }
}

const PAGE = 1000;

/**
 * How a command is tried again after another writer changed its stream first (as Emmett hands its
 * onVersionConflict options to its retry library): short, random, growing pauses (1-2 ms, 2-4 ms, ...
 * up to 50 ms) keep two busy writers from colliding on every attempt (livelock). `retries` is the bus's.
 */
export const CONFLICT_RETRY = { factor: 2, minTimeout: 1, maxTimeout: 50, randomize: true } as const satisfies RetryOptions;

async function catchUp<C, S, E extends DomainEvent>(bus: CommandBus, streamId: string, decider: Decider<C, S, E>): Promise<{ state: S; revision: number }> {
  const cached = bus.cache.get<S>(streamId);
  let state = cached?.state ?? decider.initialState;
  let revision = cached?.revision ?? -1;
  const folding = folder(decider);
  for (;;) {
    const page = await bus.store.readStream(streamId, { fromRevision: revision + 1, maxCount: PAGE });
    for (const recorded of page) {
      state = folding.fold(state, recorded);
      revision = recorded.revision;
    }
    if (page.length < PAGE) break;
  }
  bus.cache.set(streamId, { state, revision }, folding);
  return { state, revision };
}

/** Reads the current state of a stream without deciding anything (used for cross-stream checks). */
export function loadState<C, S, E extends DomainEvent>(bus: CommandBus, streamId: string, decider: Decider<C, S, E>): Promise<{ state: S; revision: number }> {
  return bus.mutex.run(streamId, () => catchUp(bus, streamId, decider));
}

export function handleCommand<C, S, E extends DomainEvent>(
  bus: CommandBus,
  args: {
    streamId: string;
    decider: Decider<C, S, E>;
    command: C;
    eventIds: (event: E, index: number) => string;
    /**
     * Completes the command with facts the state does not keep, read from the log as of the state's
     * revision (commands/message-facts.ts), before each decision: decide stays pure, and the append's
     * expected revision covers the facts as it covers the state.
     */
    withFacts?: (command: C, state: S, revision: number) => C | Promise<C>;
  },
): Promise<CommandOutcome<S, E>> {
  const { streamId, decider, command } = args;
  return bus.mutex.run(streamId, async () => {
    // First attempt on a log-fed cached state: no read (see the top of the file).
    let unread = bus.cacheFollowsLog ? bus.cache.get<S>(streamId) : undefined;
    /** One attempt; on an unread state it may decide a second time, on a read one, without counting as a retry. */
    const attempt = async (): Promise<CommandOutcome<S, E>> => {
      for (;;) {
        let { state, revision } = unread ? { state: unread.state, revision: unread.revision } : await catchUp(bus, streamId, decider);
        const decision = decider.decide(args.withFacts ? await args.withFacts(command, state, revision) : command, state);
        if (unread && (!decision.ok || decision.events.length === 0)) {
          unread = undefined;
          continue;
        }
        if (!decision.ok) return { ok: false, error: decision.error };
        if (decision.events.length === 0) return { ok: true, state, appended: [], revision };
        if (unread) bus.stats.unreadDecisions++;
        const ids = decision.events.map((e, i) => args.eventIds(e, i));
        try {
          const result = await bus.store.append(
            streamId,
            decision.events.map((e, i) => toEventData(e, ids[i]!)),
            revision < 0 ? 'no_stream' : revision,
          );
          if (result.alreadyStored === true || result.nextRevision < revision + decision.events.length) {
            // The store answered with events it already held (their ids are derived from the command):
            // a resend older than what the state remembers, or one another process wrote since the state
            // was read. Nothing was written; the state is as read.
            return { ok: true, state, appended: [], revision, alreadyStored: { revision: result.nextRevision, position: result.position } };
          }
          const first = result.nextRevision - decision.events.length + 1;
          const appended = decision.events.map((event, i) => ({ event, id: ids[i]!, revision: first + i, position: result.position }));
          for (const a of appended) state = decider.evolve(state, a.event, { revision: a.revision, position: a.position });
          revision = result.nextRevision;
          bus.cache.set(streamId, { state, revision }, folder(decider));
          return { ok: true, state, appended, revision };
        } catch (err) {
          if (!(err instanceof WrongExpectedRevisionError) || !unread) throw err;
          // Only the cache was behind: read and decide again at once, no pause.
          bus.stats.unreadConflicts++;
          unread = undefined;
        }
      }
    };
    try {
      // Another process wrote first: the next attempt folds its events and decides again.
      return await pRetry(attempt, { ...CONFLICT_RETRY, retries: bus.maxRetries, shouldRetry: ({ error }) => error instanceof WrongExpectedRevisionError });
    } catch (err) {
      if (err instanceof WrongExpectedRevisionError) throw new ConcurrencyRetriesExhaustedError(streamId, bus.maxRetries + 1);
      throw err;
    }
  });
}
