/**
 * One pino logger per process, passed down. Redaction paths are a second line of defence: secrets
 * should never be handed to the logger at all, but if one is, it is censored rather than written.
 * The same goes for errors of the database drivers: knex puts the whole statement, values inlined,
 * in front of the driver's message ("insert into … values ('a message body') - …"), and pg errors
 * carry row values in `detail`; the `err` serializer below drops both before any stream sees them.
 */
import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'password', '*.password', 'passwordHash', '*.passwordHash', '*.*.passwordHash', 'data.passwordHash', 'event.data.passwordHash',
  'token', '*.token', 'sessionToken', '*.sessionToken',
  'req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', 'headers.authorization', 'headers.cookie',
];

/** Fields of driver errors (pg, knex, MikroORM's copies of them) that hold SQL text or row values. */
const SQL_ERROR_FIELDS = ['sql', 'query', 'bindings', 'params', 'parameters', 'detail', 'where', 'internalQuery', 'sqlMessage'];

/**
 * A statement: a leading keyword at the start of the text, a line or a "reason: " / " - " join,
 * and a second keyword after it. Both are needed so prose ("could not update the view") passes.
 */
const SQL_STATEMENT = /(^|: | - |\n)[ \t]*(?:select|insert|update|delete|with|merge|copy|create|alter|drop|truncate|pragma|explain|call)\s[\s\S]{0,4000}?\b(?:from|into|set|values|where|returning|table|index|as)\b/i;

/** A code of the databases' own: a SQLSTATE (pg, MikroORM's copies) or an SQLite result code. */
const DRIVER_CODE = /^([0-9A-Z]{5}|SQLITE_[A-Z_]+)$/;

/**
 * Removes SQL statements (and the values inlined in them) from an error text. What the driver
 * said after knex's " - " join is kept. For errors with a driver's code, a quoted text after a
 * colon is cut too: that is where PostgreSQL repeats the offending input
 * (`invalid input syntax for type uuid: "…"`). Other text is unchanged.
 */
export function redactSqlText(text: string, code?: unknown): string {
  const marker = `[SQL not logged${typeof code === 'string' || typeof code === 'number' ? `; code ${String(code)}` : ''}]`;
  let out = '';
  let rest = text;
  for (let m = SQL_STATEMENT.exec(rest), guard = 0; m && guard < 10; m = SQL_STATEMENT.exec(rest), guard++) {
    const start = m.index + m[1]!.length;
    const end = statementEnd(rest, start);
    out += `${rest.slice(0, start)}${marker}`;
    rest = end < 0 ? '' : rest.slice(end);
  }
  out += rest;
  return typeof code === 'string' && DRIVER_CODE.test(code) ? quotedValuesCut(out) : out;
}

/** Where knex's " - " join follows the statement starting at `start` (outside its quoted literals), or -1. */
function statementEnd(text: string, start: number): number {
  let quote: string | null = null;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === ' ' && text.startsWith(' - ', i)) return i;
  }
  return -1;
}

function quotedValuesCut(text: string): string {
  return text.replace(/: (["'])[^\n]*/g, ': $1…$1');
}

type Serialized = Record<string, unknown>;

function redactSerializedError(e: Serialized, depth = 0): Serialized {
  const code = e['code'] ?? e['sqlState'];
  for (const key of SQL_ERROR_FIELDS) delete e[key];
  const message = e['message'];
  if (typeof message === 'string') e['message'] = redactSqlText(message, code);
  if (typeof e['stack'] === 'string') {
    // The stack repeats the message; replace it whole first, so a value with line breaks cannot split it.
    const stack = typeof message === 'string' && message && message !== e['message'] ? e['stack'].split(message).join(String(e['message'])) : e['stack'];
    e['stack'] = redactSqlText(stack, code);
  }
  if (depth < 4) {
    for (const [k, v] of Object.entries(e)) {
      if (Array.isArray(v)) e[k] = v.map((x) => (typeof x === 'object' && x !== null ? redactSerializedError(x as Serialized, depth + 1) : x));
      else if (typeof v === 'object' && v !== null && typeof (v as Serialized)['message'] === 'string') e[k] = redactSerializedError(v as Serialized, depth + 1);
    }
  }
  return e;
}

/** pino's error serializer, then the SQL redaction above. Also applied to plain `{ message, stack }` objects. */
export function serializeError(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as unknown;
  if (typeof out !== 'object' || out === null) return out;
  // pino names a plain object's type "Object"; one that says what it is keeps its own.
  const given = !(err instanceof Error) && typeof err === 'object' && err !== null ? (err as { type?: unknown }).type : undefined;
  if (typeof given === 'string') (out as Serialized)['type'] = given;
  return redactSerializedError(out as Serialized);
}

/** The message pino takes from an error when the call gives none (`logger.error(err)`, `logger.error({ err })`). */
function errorOf(first: unknown): { message?: unknown; code?: unknown } | null {
  if (first instanceof Error) return first as { code?: unknown };
  const err = typeof first === 'object' && first !== null ? (first as { err?: unknown }).err : undefined;
  return typeof err === 'object' && err !== null ? (err as { message?: unknown; code?: unknown }) : null;
}

function redactLogArgs(args: unknown[]): unknown[] {
  const out = args.map((a) => (typeof a === 'string' ? redactSqlText(a) : a));
  const first = out[0];
  if (out.length === 1 && typeof first === 'object' && first !== null && (first as { msg?: unknown }).msg === undefined) {
    const err = errorOf(first);
    if (typeof err?.message === 'string') out.push(redactSqlText(err.message, err.code));
  }
  return out;
}

/**
 * A request as its log lines show it (Fastify's "incoming request"): method and path only. The query
 * string can carry what a person typed (a user search) and the client's address is personal data, so
 * neither is logged; the path is cut at 256 characters (a URL may be 16 KiB).
 */
function serializeRequest(req: { method?: unknown; url?: unknown }): { method: unknown; url: string } {
  const path = typeof req.url === 'string' ? req.url.split('?', 1)[0]! : '';
  return { method: req.method, url: path.length > 256 ? `${path.slice(0, 256)}…` : path };
}

export function createLogger(opts: { level: string; name?: string }, destination?: DestinationStream): Logger {
  return pino(
    {
      level: opts.level,
      base: { process: opts.name ?? 'chat', pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: serializeError, error: serializeError, req: serializeRequest },
      hooks: {
        logMethod(args, method) {
          method.apply(this, redactLogArgs(args) as Parameters<typeof method>);
        },
      },
    },
    destination,
  );
}
