import type { Command } from 'commander';
import { LOG_LEVELS, queryErrors } from '../../infra/read-models/queries/errors.js';
import { parseFormat, parseLimit, parseTime, printPage, withReadModels } from './read-models.js';
import { CliInputError } from './shared.js';

interface ErrorsOptions {
  process?: string;
  level?: string;
  from?: string;
  to?: string;
  limit?: string;
  cursor?: string;
  format?: string;
}

function parseLevel(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const named = LOG_LEVELS[value.toLowerCase()];
  if (named !== undefined) return named;
  if (/^\d{1,3}$/.test(value)) return Number(value);
  throw new CliInputError(`--level must be a number or one of ${Object.keys(LOG_LEVELS).join(', ')}, got "${value}"`);
}

export function registerErrorsCommand(program: Command): void {
  program
    .command('errors')
    .description('error log of every process, newest first')
    .option('--process <name>', 'only this process (e.g. chat-api)')
    .option('--level <level>', 'at or above this level: error, fatal, or a pino number')
    .option('--from <time>', 'at or after this ISO-8601 time')
    .option('--to <time>', 'before this ISO-8601 time')
    .option('--limit <n>', 'entries per page (1-1000)', '50')
    .option('--cursor <cursor>', 'the next page, as printed by the previous one')
    .option('--format <format>', 'table or json', 'table')
    .action(async (opts: ErrorsOptions) => {
      const minLevel = parseLevel(opts.level);
      const from = parseTime('--from', opts.from);
      const to = parseTime('--to', opts.to);
      if (from && to && from >= to) throw new CliInputError('--from must be before --to');
      const limit = parseLimit(opts.limit, 50);
      const format = parseFormat(opts.format);
      const page = await withReadModels((orm) =>
        queryErrors(orm, {
          ...(opts.process !== undefined ? { process: opts.process } : {}),
          ...(minLevel !== undefined ? { minLevel } : {}),
          ...(from ? { from } : {}),
          ...(to ? { to } : {}),
          ...(opts.cursor !== undefined ? { cursor: opts.cursor } : {}),
          limit,
        }),
      );
      const levelName = (n: number): string => Object.entries(LOG_LEVELS).find(([, v]) => v === n)?.[0] ?? String(n);
      printPage(page, format, ['at', 'level', 'process', 'message'], (e) => [e.at.toISOString(), levelName(e.level), e.process, e.message]);
    });
}
