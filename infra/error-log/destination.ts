/**
 * A pino destination that copies error-level lines into the error_log table. It must never slow
 * or fail the code that logs: lines are parsed and queued synchronously, written in batches on a
 * timer, and a full queue drops the oldest rows (counted). stdout receives every line through its
 * own stream regardless, so an outage of the database loses nothing a human can read.
 *
 * It must never stall either. Rows are sanitised before they are written (./sanitise.ts). A batch
 * the database refuses for its data (SQLSTATE class 22, 23 or 54; SQLite's equivalents) is written
 * row by row; a row still refused is written with its message alone, and failing that dropped,
 * counted and reported on stdout, and the queue moves on. Any other failure (the database is down,
 * the table missing) keeps the batch at the head of the queue for the next tick.
 */
import { Writable } from 'node:stream';
import { redactSqlText } from '../logger.js';
import type { ErrorLogLine } from '../read-models/entities/error-log.js';
import { bareRow, sanitiseRow } from './sanitise.js';

/** A row for error_log, before the database numbers it. */
export type ErrorLogRow = ErrorLogLine;

export interface ErrorLogWriter {
  insert(rows: ErrorLogRow[]): Promise<void>;
}

export interface ErrorLogStreamOptions {
  flushMs?: number;
  maxBatch?: number;
  maxQueue?: number;
  /** Called (rate-limited by the caller's choice) when a batch could not be written and will be retried. */
  onWriteError?: (err: unknown) => void;
  /** Called for rows given up on: `overflow` (the queue was full) or `refused` (the database refused even the bare row). */
  onDropped?: (reason: ErrorLogDropReason, rows: number) => void;
  /** Where dropped rows are reported, at warn level: stdout only, so the report cannot loop back here. */
  logger?: { warn(obj: object, msg: string): void };
}

export type ErrorLogDropReason = 'overflow' | 'refused';

/**
 * 08P01 is class 08 (connection) but, seen here, means the statement's message was malformed, as a
 * NUL in a bound value can make it through MikroORM: retrying the same rows would stall the queue.
 */
const PROTOCOL_VIOLATION = '08P01';

/** SQLite result codes of a statement refused for its data rather than for the database's state. */
const SQLITE_DATA_CODES = /^SQLITE_(TOOBIG|CONSTRAINT|MISMATCH|RANGE)/;

/**
 * A failure caused by the rows themselves, which retrying cannot cure: PostgreSQL's data exceptions
 * (class 22: invalid byte sequence, untranslatable character, value too long …), integrity
 * violations (23), size limits (54) and protocol violations (08P01), or SQLite's equivalents. MikroORM and knex keep the
 * driver's code on the error (or its cause).
 */
export function isDataError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; depth++) {
    const { code, sqlState, cause } = e as { code?: unknown; sqlState?: unknown; cause?: unknown };
    for (const c of [code, sqlState]) {
      if (typeof c !== 'string') continue;
      if (/^(22|23|54)[0-9A-Z]{3}$/.test(c) || c === PROTOCOL_VIOLATION || SQLITE_DATA_CODES.test(c)) return true;
    }
    e = cause;
  }
  return false;
}

function codeOf(err: unknown): string | null {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : null;
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
  // The logger (infra/logger.ts) already took SQL out of errors; lines from any other pino instance
  // get the same treatment here, because a statement's values can be message bodies.
  const code = err?.['code'];
  const errMessage = typeof err?.['message'] === 'string' ? err['message'] : null;
  const msg = typeof o['msg'] === 'string' ? o['msg'] : errMessage ?? '(no message)';
  const message = errMessage !== null && errMessage !== msg ? `${msg}: ${errMessage}` : msg;
  let stack = typeof err?.['stack'] === 'string' ? err['stack'] : null;
  if (stack !== null && errMessage) stack = stack.split(errMessage).join(redactSqlText(errMessage, code));
  return {
    at: typeof o['time'] === 'number' ? new Date(o['time']) : new Date(),
    level: typeof o['level'] === 'number' ? o['level'] : 50,
    process: typeof o['process'] === 'string' ? o['process'] : 'unknown',
    context: Object.keys(context).length > 0 ? context : null,
    message: redactSqlText(message, code),
    stack: stack === null ? null : redactSqlText(stack, code),
  };
}

export interface ErrorLogStream extends Writable {
  /** Writes what is queued now; resolves when done (or failed). */
  flush(): Promise<void>;
  /** Rows given up on so far: pushed out of a full queue, or refused by the database even bare. */
  dropped(): number;
}

export function createErrorLogStream(writer: ErrorLogWriter, opts: ErrorLogStreamOptions = {}): ErrorLogStream {
  const flushMs = opts.flushMs ?? 500;
  const maxBatch = opts.maxBatch ?? 200;
  const maxQueue = opts.maxQueue ?? 5_000;
  const queue: ErrorLogRow[] = [];
  let refused = 0;
  /** Rows pushed out of a full queue; reported by the next flush (write() must not log: it runs inside pino). */
  let overflow = 0;
  let overflowReported = 0;
  let writing: Promise<void> | null = null;

  const giveUp = (reason: ErrorLogDropReason, rows: number, detail: object): void => {
    if (reason === 'refused') refused += rows;
    opts.onDropped?.(reason, rows);
    opts.logger?.warn({ ...detail, droppedRows: rows, reason }, reason === 'overflow'
      ? 'error log: queue full, oldest rows dropped (they are on stdout)'
      : 'error log: row refused by the database, dropped (it is on stdout)');
  };

  /** The batch was refused for its data: find the rows at fault. Returns the rows to retry later. */
  const oneByOne = async (batch: ErrorLogRow[]): Promise<ErrorLogRow[]> => {
    for (let i = 0; i < batch.length; i++) {
      const row = batch[i]!;
      let refusal: unknown = null;
      for (const attempt of [row, bareRow(row)]) {
        try {
          await writer.insert([attempt]);
          refusal = null;
          break;
        } catch (err) {
          if (!isDataError(err)) {
            opts.onWriteError?.(err);
            return batch.slice(i);
          }
          refusal = err;
        }
      }
      if (refusal !== null) giveUp('refused', 1, { row: { at: row.at, process: row.process, level: row.level }, code: codeOf(refusal) });
    }
    return [];
  };

  const flush = async (): Promise<void> => {
    while (writing) await writing;
    if (overflow > overflowReported) {
      giveUp('overflow', overflow - overflowReported, {});
      overflowReported = overflow;
    }
    if (queue.length === 0) return;
    const batch = queue.splice(0, maxBatch);
    writing = (async () => {
      let retry: ErrorLogRow[] = [];
      try {
        await writer.insert(batch);
      } catch (err) {
        if (isDataError(err)) retry = await oneByOne(batch);
        else {
          retry = batch;
          opts.onWriteError?.(err);
        }
      }
      // Back at the head for the next tick unless that would overflow: the newest rows win.
      const kept = retry.slice(0, Math.max(0, maxQueue - queue.length));
      overflow += retry.length - kept.length;
      queue.unshift(...kept);
    })().catch(() => undefined).finally(() => { writing = null; }); // a throwing callback must not stop the timer
    await writing;
  };

  const timer = setInterval(() => { flush().catch(() => undefined); }, flushMs);
  timer.unref();

  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue;
        const row = toErrorRow(line);
        if (!row) continue;
        if (queue.length >= maxQueue) { queue.shift(); overflow++; }
        queue.push(sanitiseRow(row));
      }
      cb();
    },
    final(cb) {
      clearInterval(timer);
      flush().then(() => cb(), () => cb());
    },
  }) as ErrorLogStream;
  stream.flush = flush;
  stream.dropped = () => refused + overflow;
  return stream;
}

/**
 * A writer over any SQL connection that takes `?` placeholders. SQLite keeps times as epoch
 * milliseconds (as MikroORM reads them there), PostgreSQL as timestamptz.
 */
export function createSqlErrorLogWriter(execute: (sql: string, params: unknown[]) => Promise<unknown>, dialect: 'postgresql' | 'sqlite' = 'postgresql'): ErrorLogWriter {
  return {
    async insert(given) {
      if (given.length === 0) return;
      // Idempotent, and cheap next to the round trip: callers that bypass the stream get clean rows too.
      const rows = given.map(sanitiseRow);
      const values = rows.map(() => '(?, ?, ?, ?, ?, ?)').join(', ');
      const params = rows.flatMap((r) => [dialect === 'sqlite' ? r.at.getTime() : r.at, r.level, r.process, r.context === null ? null : JSON.stringify(r.context), r.message, r.stack]);
      await execute(`insert into error_log (at, level, process, context, message, stack) values ${values}`, params);
    },
  };
}
