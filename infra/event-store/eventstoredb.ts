// EventStoreDB adapter (@eventstore/db-client 6.2.1, gRPC).
//
// Positions: the port's position is the event's commit position in $all. Since EventStoreDB 20.6 every
// event of a multi-event append has its own log record, so commit positions are unique and grow with the
// log, and $all is read straight from the log in commit order: nothing can appear later at or below a
// position already handed out.
//
// Idempotency: EventStoreDB de-duplicates by event id itself. With an expected revision other than 'any'
// a retried append of the same events succeeds without writing and reports the original revision; with
// 'any' the server only does its best (it checks recent writes), so callers that need exactly-once must
// pass an expected revision. A partly repeated append is refused as a wrong expected revision.
//
// System events ($-prefixed types: stats, settings, scavenges, links) are not the application's: reads
// and subscriptions of $all skip them.
import {
  ANY,
  BACKWARDS,
  DeadlineExceededError,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  StreamNotFoundError,
  UnavailableError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  jsonEvent,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendExpectedRevision,
  type JSONType,
  type ReadPosition,
  type RecordedEvent as EsdbRecordedEvent,
} from '@eventstore/db-client';
import { PagedSubscription } from './paged-subscription.js';
import {
  WrongExpectedRevisionError,
  expectedAsNumber,
  type AppendResult,
  type EventData,
  type EventStore,
  type ExpectedRevision,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type Subscription,
} from '../../commands/ports/event-store.js';

const DEFAULT_PAGE = 1000;
/** Positions are uint64 on the wire; servers before 22.6 send all ones where they know none. */
const UNKNOWN_POSITION_FLOOR = 1n << 63n;
/** Subscription buffer: pause the gRPC stream above HIGH buffered events, resume below LOW. */
const HIGH_WATER = 1000;
const LOW_WATER = 100;
// gRPC status codes (from @grpc/grpc-js, which is not our direct dependency).
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_UNAVAILABLE = 14;

/** The connection string without its password, fit for error messages and logs. */
function redact(connectionString: string): string {
  return connectionString.replace(/(\/\/[^:@/?]+:)[^@/?]*@/, '$1***@');
}

/** A refused or lost connection: UnavailableError from reads, a bare gRPC error (code 14) from appends. */
function isConnectionFailure(err: unknown): boolean {
  if (err instanceof UnavailableError || err instanceof DeadlineExceededError) return true;
  const code = typeof err === 'object' && err !== null && 'code' in err ? (err as { code: unknown }).code : undefined;
  return code === GRPC_UNAVAILABLE || code === GRPC_DEADLINE_EXCEEDED;
}

function toReadPosition(after: bigint): ReadPosition {
  // A read from a position includes the record there; callers drop it (strictly-after semantics).
  return after === 0n ? START : { commit: after, prepare: after };
}

function toEsdbExpected(expected: ExpectedRevision): AppendExpectedRevision {
  const e = expectedAsNumber(expected);
  if (e === 'any') return ANY;
  if (e === 'no_stream' || e === -1) return NO_STREAM;
  if (!Number.isSafeInteger(e) || e < -1) throw new RangeError(`Invalid expected revision ${String(expected)}`);
  return BigInt(e);
}

function isSystemEvent(e: EsdbRecordedEvent): boolean {
  return e.type.startsWith('$');
}

function toMetadata(m: unknown): Record<string, unknown> {
  return m !== null && typeof m === 'object' && !Array.isArray(m) && !(m instanceof Uint8Array) ? (m as Record<string, unknown>) : {};
}

function toRecorded(e: EsdbRecordedEvent, position: bigint): RecordedEvent {
  return {
    id: e.id,
    streamId: e.streamId,
    type: e.type,
    revision: Number(e.revision),
    position,
    data: e.data,
    metadata: toMetadata(e.metadata),
    createdAt: e.created,
  };
}

/** Commit position of an event read from a stream; unknown on servers before 22.6. */
function knownPosition(e: EsdbRecordedEvent): bigint | undefined {
  const commit = e.position?.commit;
  return commit !== undefined && commit < UNKNOWN_POSITION_FLOOR ? commit : undefined;
}

export class EventStoreDbStore implements EventStore {
  readonly kind = 'eventstoredb' as const;
  readonly #client: EventStoreDBClient;
  readonly #where: string;
  readonly #subscriptions = new Set<EsdbSubscription>();
  #closed = false;

  private constructor(client: EventStoreDBClient, connectionString: string) {
    this.#client = client;
    this.#where = redact(connectionString);
  }

  /** Connects and checks the server answers (the client itself connects lazily, on first use). */
  static async open(opts: { connectionString: string }): Promise<EventStoreDbStore> {
    let client: EventStoreDBClient;
    try {
      client = EventStoreDBClient.connectionString(opts.connectionString);
    } catch (err) {
      throw new Error(`EVENTSTORE_URL is not a valid EventStoreDB connection string (${redact(opts.connectionString)}): ${message(err)}`, {
        cause: err,
      });
    }
    const store = new EventStoreDbStore(client, opts.connectionString);
    try {
      await store.headPosition();
    } catch (err) {
      await client.dispose().catch(() => undefined);
      throw new Error(
        `Cannot use EventStoreDB at ${redact(opts.connectionString)} (EVENTSTORE_URL): ${message(err)}. ` +
          'Is the server running, and does EVENTSTORE_URL name it (e.g. esdb://localhost:2113?tls=false)?',
        { cause: err },
      );
    }
    return store;
  }

  async append(streamId: string, events: EventData[], expected: ExpectedRevision): Promise<AppendResult> {
    this.#ensureOpen();
    const expectedRevision = toEsdbExpected(expected);
    if (events.length === 0) return this.#appendNothing(streamId, expected);
    const proposed = events.map((e) =>
      jsonEvent({
        id: e.id,
        type: e.type,
        // The client JSON.stringify()s any value; its JSONType is narrower than what it accepts.
        data: (e.data ?? null) as JSONType,
        metadata: e.metadata ?? {},
      }),
    );
    try {
      const res = await this.#client.appendToStream(streamId, proposed, { expectedRevision });
      const nextRevision = Number(res.nextExpectedRevision);
      // A de-duplicated append may come back without a position (older servers): look it up.
      const position = res.position?.commit ?? (await this.#positionOf(streamId, nextRevision));
      return { nextRevision, position };
    } catch (err) {
      if (err instanceof WrongExpectedVersionError) {
        const actual = err.actualVersion === NO_STREAM ? 'no_stream' : Number(err.actualVersion);
        throw new WrongExpectedRevisionError(streamId, expected, actual);
      }
      throw this.#wrap(err);
    }
  }

  /** An empty append writes nothing; check the expectation against the stream and report where it is. */
  async #appendNothing(streamId: string, expected: ExpectedRevision): Promise<AppendResult> {
    const [last] = await this.readStream(streamId, { direction: 'backwards', maxCount: 1 });
    const current = last ? last.revision : -1;
    const e = expectedAsNumber(expected);
    const ok = e === 'any' || (e === 'no_stream' ? current === -1 : current === e);
    if (!ok) throw new WrongExpectedRevisionError(streamId, expected, current === -1 ? 'no_stream' : current);
    return { nextRevision: current, position: last ? last.position : 0n };
  }

  /**
   * Commit position of one stream event. Servers from 22.6 report it on stream reads; before that the
   * best we can give is the head of the log, an upper bound that is still safe as a "caught up to" mark.
   */
  async #positionOf(streamId: string, revision: number): Promise<bigint> {
    try {
      for await (const resolved of this.#client.readStream(streamId, { fromRevision: BigInt(revision), maxCount: 1 })) {
        const p = resolved.event ? knownPosition(resolved.event) : undefined;
        if (p !== undefined) return p;
      }
    } catch (err) {
      if (!(err instanceof StreamNotFoundError)) throw this.#wrap(err);
    }
    return this.headPosition();
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.#ensureOpen();
    if (options.maxCount !== undefined && options.maxCount < 1) return [];
    const backwards = options.direction === 'backwards';
    const fromRevision = options.fromRevision !== undefined ? BigInt(options.fromRevision) : backwards ? END : START;
    const out: RecordedEvent[] = [];
    try {
      const read = this.#client.readStream(streamId, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision,
        resolveLinkTos: false,
        ...(options.maxCount !== undefined ? { maxCount: options.maxCount } : {}),
      });
      for await (const resolved of read) {
        // Stream reads come from the index; servers before 22.6 know no position there (0n: unknown).
        if (resolved.event) out.push(toRecorded(resolved.event, knownPosition(resolved.event) ?? 0n));
      }
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw this.#wrap(err);
    }
    return out;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.#ensureOpen();
    const maxCount = options.maxCount ?? DEFAULT_PAGE;
    const out: RecordedEvent[] = [];
    if (maxCount < 1) return out;
    let from = options.after ?? 0n;
    try {
      for (;;) {
        // One more than we still need: the read includes the event at `from`, which is dropped.
        const batch = maxCount - out.length + 1;
        let received = 0;
        for await (const resolved of this.#client.readAll({ fromPosition: toReadPosition(from), maxCount: batch, resolveLinkTos: false })) {
          received += 1;
          const e = resolved.event;
          if (!e || e.position.commit <= from || out.length >= maxCount) continue;
          from = e.position.commit;
          if (!isSystemEvent(e)) out.push(toRecorded(e, e.position.commit));
        }
        // A full page, or the end of the log. Otherwise system events used up room: read on after them,
        // so a page of only system events never looks like the end of the log to the caller.
        if (out.length >= maxCount || received < batch) return out;
      }
    } catch (err) {
      throw this.#wrap(err);
    }
  }

  subscribeToAll(options: { after?: bigint } = {}): Subscription {
    this.#ensureOpen();
    const after = options.after ?? 0n;
    const stream = this.#client.subscribeToAll({
      fromPosition: toReadPosition(after),
      resolveLinkTos: false,
      // Server-side filter: system events never cross the wire (they are also dropped client-side).
      filter: excludeSystemEvents(),
    });
    const sub = new EsdbSubscription(stream, after, (err) => this.#wrap(err), (s) => this.#subscriptions.delete(s));
    this.#subscriptions.add(sub);
    return sub;
  }

  async headPosition(): Promise<bigint> {
    this.#ensureOpen();
    try {
      for await (const resolved of this.#client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 })) {
        if (resolved.event) return resolved.event.position.commit;
      }
      return 0n;
    } catch (err) {
      throw this.#wrap(err);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.stop()));
    await this.#client.dispose();
  }

  #ensureOpen(): void {
    if (this.#closed) throw new Error('EventStoreDbStore is closed');
  }

  /** Connection failures become one clear message naming EVENTSTORE_URL; other errors pass through. */
  #wrap(err: unknown): unknown {
    if (!isConnectionFailure(err)) return err;
    return new Error(`EventStoreDB at ${this.#where} (EVENTSTORE_URL) is unreachable: ${message(err)}`, { cause: err });
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The client's catch-up subscription (a Node stream) as the port's Subscription. Events are buffered
 * from 'data' with pause/resume backpressure and handed on one at a time, so that the buffer here is
 * the one that counts; errors are kept and thrown from next(), so a dropped subscription fails loudly
 * instead of going quiet.
 */
class EsdbSubscription extends PagedSubscription {
  readonly #stream: AllStreamSubscription;
  readonly #wrap: (err: unknown) => unknown;
  readonly #forget: (s: EsdbSubscription) => void;
  #buffer: AllStreamResolvedEvent[] = [];
  #error: unknown = undefined;
  #ended = false;
  #notify: (() => void) | null = null;

  constructor(
    stream: AllStreamSubscription,
    after: bigint,
    wrap: (err: unknown) => unknown,
    forget: (s: EsdbSubscription) => void,
  ) {
    super(after);
    this.#stream = stream;
    this.#wrap = wrap;
    this.#forget = forget;
    stream.on('data', (resolved: AllStreamResolvedEvent) => {
      this.#buffer.push(resolved);
      if (this.#buffer.length >= HIGH_WATER) stream.pause();
      this.#wake();
    });
    // Always listened to: an unhandled 'error' event would crash the process.
    stream.on('error', (err: Error) => {
      this.#error ??= err;
      this.#wake();
    });
    stream.on('end', () => {
      this.#ended = true;
      this.#wake();
    });
  }

  protected async release(): Promise<void> {
    this.#buffer = [];
    this.#wake();
    this.#forget(this);
    try {
      await this.#stream.unsubscribe();
    } catch {
      // Already gone (connection lost or closed): nothing left to cancel.
    }
    this.#stream.destroy();
  }

  #wake(): void {
    const notify = this.#notify;
    this.#notify = null;
    notify?.();
  }

  protected async nextPage(): Promise<RecordedEvent[]> {
    for (;;) {
      if (this.stopped) return [];
      const resolved = this.#buffer.shift();
      if (resolved) {
        if (this.#buffer.length <= LOW_WATER && this.#stream.isPaused()) this.#stream.resume();
        const e = resolved.event;
        if (!e || isSystemEvent(e)) continue;
        return [toRecorded(e, e.position.commit)];
      }
      if (this.#error !== undefined) {
        const err = this.#error;
        await this.stop();
        throw this.#wrap(err);
      }
      if (this.#ended) {
        await this.stop();
        throw new Error('EventStoreDB ended the $all subscription unexpectedly');
      }
      await new Promise<void>((resolve) => {
        this.#notify = resolve;
      });
    }
  }
}
