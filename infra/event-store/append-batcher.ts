// Group commit for appends. Every commit on PostgreSQL waits for a WAL flush (fsync), and on a disk
// that takes ~0.4 ms, one transaction per append caps a store at a few thousand appends/s however
// many writers there are. The batcher coalesces appends that arrive while earlier ones are being
// written into one transaction: one flush for the lot. It adds no wait of its own: an append that
// finds a free slot goes at once, alone, so a lightly loaded store behaves as before, and batches only
// grow under load, as big as what queued up during the previous write (EventStoreDB's writer, and
// PostgreSQL's own commit_delay, do the same).
//
// Each append in a batch keeps its own outcome (the writer's result, or its own error): one whose
// expected revision fails is reported as such while the others commit. A batch holds each stream at most once; a second append to a
// stream already in the forming batch waits for the next one, so appends to one stream are written in
// the order they came.

export interface BatchedAppend<T> {
  streamId: string;
  eventCount: number;
  /** What the writer needs; opaque to the batcher. */
  item: T;
}

/** What a batch write reports per append: the writer's result, or an error of the append's own. */
export type BatchOutcome<R> = { kind: 'done'; result: R } | { kind: 'failed'; error: unknown };

export interface AppendBatcherOptions<T, R> {
  /** Writes a batch in one transaction; the outcomes come back in the batch's order. */
  write(batch: readonly BatchedAppend<T>[]): Promise<BatchOutcome<R>[]>;
  /** Batches written at the same time (each holds a pooled connection). */
  maxInFlight: number;
  maxAppends: number;
  maxEvents: number;
}

interface Waiting<T, R> extends BatchedAppend<T> {
  resolve(outcome: BatchOutcome<R>): void;
  reject(err: unknown): void;
}

export class AppendBatcher<T, R> {
  readonly #opts: AppendBatcherOptions<T, R>;
  #queue: Waiting<T, R>[] = [];
  #inFlight = 0;
  /** Batches written and appends they held, for metrics and the benchmark. */
  readonly stats = { batches: 0, appends: 0, largest: 0, writeMs: 0, maxWriteMs: 0 };

  constructor(opts: AppendBatcherOptions<T, R>) {
    this.#opts = opts;
  }

  submit(append: BatchedAppend<T>): Promise<BatchOutcome<R>> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ ...append, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#opts.maxInFlight && this.#queue.length > 0) {
      const batch = this.#take();
      this.#inFlight++;
      void this.#run(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  /** The next batch: queue order, each stream once, within the limits; the rest stays queued in order. */
  #take(): Waiting<T, R>[] {
    const batch: Waiting<T, R>[] = [];
    const rest: Waiting<T, R>[] = [];
    const streams = new Set<string>();
    let events = 0;
    for (const w of this.#queue) {
      const fits =
        batch.length < this.#opts.maxAppends &&
        !streams.has(w.streamId) &&
        (batch.length === 0 || events + w.eventCount <= this.#opts.maxEvents);
      if (fits) {
        batch.push(w);
        streams.add(w.streamId);
        events += w.eventCount;
      } else {
        rest.push(w);
      }
    }
    this.#queue = rest;
    return batch;
  }

  async #run(batch: Waiting<T, R>[]): Promise<void> {
    this.stats.batches++;
    this.stats.appends += batch.length;
    if (batch.length > this.stats.largest) this.stats.largest = batch.length;
    let outcomes: BatchOutcome<R>[];
    const started = performance.now();
    try {
      outcomes = await this.#opts.write(batch);
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    } finally {
      const ms = performance.now() - started;
      this.stats.writeMs += ms;
      if (ms > this.stats.maxWriteMs) this.stats.maxWriteMs = ms;
    }
    batch.forEach((w, i) => {
      const o = outcomes[i];
      if (o) w.resolve(o);
      else w.reject(new Error(`append batch: no outcome for stream ${w.streamId}`));
    });
  }
}
