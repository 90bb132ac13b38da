/** Helpers for the CLI commands that read or maintain the SQL read models. */
import { loadConfig } from '../../infra/config.js';
import { createLogger, type Logger } from '../../infra/logger.js';
import { openReadModels } from '../../infra/read-models/open.js';
import type { ReadModelOrm } from '../../infra/read-models/orm.js';
import { InvalidQueryError } from '../../infra/read-models/queries/page.js';
import { CliInputError } from './shared.js';

/** Opens only the read models (no event store) for one command, and always closes them. */
export async function withReadModels<T>(task: (orm: ReadModelOrm, logger: Logger) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const logger = createLogger({ level: process.env['LOG_LEVEL'] ?? 'warn', name: 'cli' }, process.stderr);
  const orm = await openReadModels(config, logger);
  try {
    return await task(orm, logger);
  } catch (err) {
    if (err instanceof InvalidQueryError) throw new CliInputError(err.message);
    throw err;
  } finally {
    await orm.close();
  }
}

export const FORMATS = ['table', 'json'] as const;
export type Format = (typeof FORMATS)[number];

export function parseFormat(value: string | undefined): Format {
  const f = value ?? 'table';
  if (!(FORMATS as ReadonlyArray<string>).includes(f)) throw new CliInputError(`--format must be one of ${FORMATS.join(', ')}, got "${f}"`);
  return f as Format;
}

/** An ISO-8601 time (a date alone means its midnight UTC). */
export function parseTime(option: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim()) ? Date.parse(value.trim()) : Number.NaN;
  if (Number.isNaN(ms)) throw new CliInputError(`${option} must be an ISO-8601 time such as 2026-01-31 or 2026-01-31T12:00:00Z, got "${value}"`);
  return new Date(ms);
}

export function parseLimit(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1000) throw new CliInputError(`--limit must be a whole number from 1 to 1000, got "${value}"`);
  return Number(value);
}

/** A plain text table: one header line, columns padded to their widest cell. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** JSON with bigints and Dates as strings. */
export const toJson = (value: unknown): string =>
  JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

/** Prints one page of a query: JSON as is, or a table with a hint for the next page on stderr. */
export function printPage<T>(page: { items: T[]; nextCursor: string | null }, format: Format, headers: string[], row: (item: T) => string[]): void {
  if (format === 'json') {
    process.stdout.write(`${toJson(page)}\n`);
    return;
  }
  process.stdout.write(formatTable(headers, page.items.map(row)));
  if (page.nextCursor) process.stderr.write(`more: --cursor ${page.nextCursor}\n`);
}
