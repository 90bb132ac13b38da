/**
 * A pino destination that copies error-level lines into the error_log table. It must never slow
 * or fail the code that logs: lines are parsed and queued synchronously, written in batches on a
 * timer, and a full queue drops the oldest rows (counted). stdout receives every line through its
 * own stream regardless, so an outage of the database loses nothing a human can read.
 */
import { Writable } from 'node:stream';

export interface ErrorLogRow {
  at: Date;
  level: number;
  process: string;
  context: Record<string, unknown> | null;
  message: string;
  stack: string | null;
}

export interface ErrorLogWriter {
  insert(rows: ErrorLogRow[]): Promise<void>;
}

export interface ErrorLogStreamOptions {
  flushMs?: number;
  maxBatch?: number;
  maxQueue?: number;
  /** Called (rate-limited by the caller's choice) when a batch could not be written. */
  onWriteError?: (err: unknown) => void;
}

const OWN_FIELDS = new Set(['level', 'time', 'msg', 'err', 'pid', 'hostname', 'process']);

export function toErrorRow(line: string): ErrorLogRow | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const o = parsed as Record<string, unknown>;
  const err = typeof o['err'] === 'object' && o['err'] !== null ? (o['err'] as Record<string, unknown>) : null;
  const context: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (!OWN_FIELDS.has(k)) context[k] = v;
  const message = typeof o['msg'] === 'string' ? o['msg'] : typeof err?.['message'] === 'string' ? err['message'] : '(no message)';
  return {
    at: typeof o['time'] === 'number' ? new Date(o['time']) : new Date(),
    level: typeof o['level'] === 'number' ? o['level'] : 50,
    process: typeof o['process'] === 'string' ? o['process'] : 'unknown',
    context: Object.keys(context).length > 0 ? context : null,
    message: err && typeof err['message'] === 'string' && err['message'] !== message ? `${message}: ${err['message']}` : message,
    stack: typeof err?.['stack'] === 'string' ? err['stack'] : null,
  };
}

export interface ErrorLogStream extends Writable {
  /** Writes what is queued now; resolves when done (or failed). */
  flush(): Promise<void>;
  dropped(): number;
}

export function createErrorLogStream(writer: ErrorLogWriter, opts: ErrorLogStreamOptions = {}): ErrorLogStream {
  const flushMs = opts.flushMs ?? 500;
  const maxBatch = opts.maxBatch ?? 200;
  const maxQueue = opts.maxQueue ?? 5_000;
  const queue: ErrorLogRow[] = [];
  let dropped = 0;
  let writing: Promise<void> | null = null;

  const flush = async (): Promise<void> => {
    while (writing) await writing;
    if (queue.length === 0) return;
    const batch = queue.splice(0, maxBatch);
    writing = writer.insert(batch).then(
      () => undefined,
      (err: unknown) => {
        // Put the batch back for the next tick unless that would overflow: the newest rows win.
        queue.unshift(...batch.slice(0, Math.max(0, maxQueue - queue.length)));
        opts.onWriteError?.(err);
      },
    ).finally(() => { writing = null; });
    await writing;
  };

  const timer = setInterval(() => { void flush(); }, flushMs);
  timer.unref();

  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue;
        const row = toErrorRow(line);
        if (!row) continue;
        if (queue.length >= maxQueue) { queue.shift(); dropped++; }
        queue.push(row);
      }
      cb();
    },
    final(cb) {
      clearInterval(timer);
      flush().then(() => cb(), () => cb());
    },
  }) as ErrorLogStream;
  stream.flush = flush;
  stream.dropped = () => dropped;
  return stream;
}

/**
 * A writer over any SQL connection that takes `?` placeholders. SQLite keeps times as epoch
 * milliseconds (as MikroORM reads them there), PostgreSQL as timestamptz.
 */
export function createSqlErrorLogWriter(execute: (sql: string, params: unknown[]) => Promise<unknown>, dialect: 'postgresql' | 'sqlite' = 'postgresql'): ErrorLogWriter {
  return {
    async insert(rows) {
      if (rows.length === 0) return;
      const values = rows.map(() => '(?, ?, ?, ?, ?, ?)').join(', ');
      const params = rows.flatMap((r) => [dialect === 'sqlite' ? r.at.getTime() : r.at, r.level, r.process, r.context === null ? null : JSON.stringify(r.context), r.message, r.stack]);
      await execute(`insert into error_log (at, level, process, context, message, stack) values ${values}`, params);
    },
  };
}
