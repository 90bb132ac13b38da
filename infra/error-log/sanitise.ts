/**
 * What an error_log row may hold. A log line can carry anything a client sent (a NUL in a query
 * string, half of a surrogate pair, a megabyte of text); PostgreSQL refuses NUL in text and
 * jsonb, and refuses `\u0000` and unpaired `\uD800` escapes in jsonb. Every row is cleaned the
 * same way on both stores, so what the error log shows does not depend on the database.
 * The limits are documented in docs/http.md (error log).
 */
import type { ErrorLogRow } from './destination.js';

export const ERROR_LOG_LIMITS = {
  /** Characters of the message kept; longer ones end with "…". */
  message: 4_096,
  /** Characters of the stack kept. */
  stack: 16_384,
  process: 64,
  /** Characters of any one string inside the context. */
  contextString: 1_024,
  /** Nesting depth of the context; deeper values become "[too deep]". */
  contextDepth: 8,
  /** Characters of the whole context as JSON; a larger one is stored as `{ "truncated": "<its JSON, cut>" }`. */
  context: 16_384,
} as const;

const UNSAFE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** NUL and unpaired surrogates removed, then cut to `max` characters without splitting a pair. */
export function cleanText(text: string, max: number): string {
  const clean = text.replace(UNSAFE, '');
  if (clean.length <= max) return clean;
  return `${clean.slice(0, max - 1).replace(UNSAFE, '')}…`;
}

function cleanValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return cleanText(value, ERROR_LOG_LIMITS.contextString);
  if (typeof value !== 'object' || value === null) return typeof value === 'number' && !Number.isFinite(value) ? null : value;
  if (depth >= ERROR_LOG_LIMITS.contextDepth) return '[too deep]';
  if (Array.isArray(value)) return value.map((v) => cleanValue(v, depth + 1));
  // No prototype: a `__proto__` key (JSON.parse makes it an own key) is kept as data, not set as the prototype.
  const out = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(value)) out[cleanText(k, ERROR_LOG_LIMITS.contextString)] = cleanValue(v, depth + 1);
  return out;
}

export function cleanContext(context: Record<string, unknown> | null): Record<string, unknown> | null {
  if (context === null) return null;
  const clean = cleanValue(context, 0) as Record<string, unknown>;
  const json = JSON.stringify(clean);
  return json.length <= ERROR_LOG_LIMITS.context ? clean : { truncated: cleanText(json, ERROR_LOG_LIMITS.context) };
}

export function sanitiseRow(row: ErrorLogRow): ErrorLogRow {
  return {
    at: Number.isFinite(row.at.getTime()) ? row.at : new Date(),
    // pino levels are small integers; anything else would not fit the integer column.
    level: Number.isInteger(row.level) && row.level >= 0 && row.level <= 1_000 ? row.level : 50,
    process: cleanText(row.process, ERROR_LOG_LIMITS.process),
    context: cleanContext(row.context),
    message: cleanText(row.message, ERROR_LOG_LIMITS.message),
    stack: row.stack === null ? null : cleanText(row.stack, ERROR_LOG_LIMITS.stack),
  };
}

/** The last try for a row the database still refused: its message alone. */
export function bareRow(row: ErrorLogRow): ErrorLogRow {
  return { ...row, context: null, stack: null };
}
