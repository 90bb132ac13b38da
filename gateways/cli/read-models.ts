/** Helpers for the CLI commands that read or maintain the SQL read models. */
import type { Logger } from 'pino';
import { withReadSide, type ReadModelOrm } from '../service/tools.js';
import { InvalidQueryError } from '../../projections/ports/page.js';
import type { Format } from './options.js';
import { CliInputError } from './shared.js';

/** Opens only the read models (no event store) for one command, and always closes them. */
export function withReadModels<T>(task: (orm: ReadModelOrm, logger: Logger) => Promise<T>): Promise<T> {
  return withReadSide(async (orm, logger) => {
    try {
      return await task(orm, logger);
    } catch (err) {
      if (err instanceof InvalidQueryError) throw new CliInputError(err.message);
      throw err;
    }
  });
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
