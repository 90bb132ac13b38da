import { InvalidArgumentError, Option, type Command } from 'commander';
import { LOG_LEVELS, queryErrors } from '../service/tools.js';
import { formatOption, fromOption, limitOption, toOption, type Format } from './options.js';
import { printPage, withReadModels } from './read-models.js';
import { CliInputError } from './shared.js';

interface ErrorsOptions {
  process?: string;
  level?: number;
  from?: Date;
  to?: Date;
  limit: number;
  cursor?: string;
  format: Format;
}

function parseLevel(value: string): number {
  const named = LOG_LEVELS[value.toLowerCase()];
  if (named !== undefined) return named;
  // pino's levels run from trace (10) to fatal (60), as the HTTP API's minLevel.
  if (/^\d{1,3}$/.test(value) && Number(value) >= 10 && Number(value) <= 60) return Number(value);
  throw new InvalidArgumentError(`--level must be a number from 10 to 60 or one of ${Object.keys(LOG_LEVELS).join(', ')}`);
}

export function registerErrorsCommand(program: Command): void {
  program
    .command('errors')
    .description('error log of every process, newest first')
    .option('--process <name>', 'only this process (e.g. chat-api)')
    .addOption(new Option('--level <level>', 'at or above this level: error, fatal, or a pino number').argParser(parseLevel))
    .addOption(fromOption())
    .addOption(toOption())
    .addOption(limitOption(50))
    .option('--cursor <cursor>', 'the next page, as printed by the previous one')
    .addOption(formatOption())
    .action(async ({ level: minLevel, from, to, limit, format, ...opts }: ErrorsOptions) => {
      if (from && to && from >= to) throw new CliInputError('--from must be before --to');
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
