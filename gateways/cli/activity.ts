import type { Command } from 'commander';
import { ACTIVITY_ACTIONS } from '../../infra/read-models/entities/activity-log.js';
import { isActivityAction, queryActivity } from '../../infra/read-models/queries/activity.js';
import { parseFormat, parseLimit, parseTime, printPage, withReadModels } from './read-models.js';
import { CliInputError } from './shared.js';

interface ActivityOptions {
  user?: string;
  action?: string;
  from?: string;
  to?: string;
  limit?: string;
  cursor?: string;
  format?: string;
}

export function registerActivityCommand(program: Command): void {
  program
    .command('activity')
    .description('audit trail of user actions, newest first')
    .option('--user <userId>', 'only this user')
    .option('--action <action>', `only this action: ${ACTIVITY_ACTIONS.join(', ')}`)
    .option('--from <time>', 'at or after this ISO-8601 time')
    .option('--to <time>', 'before this ISO-8601 time')
    .option('--limit <n>', 'entries per page (1-1000)', '50')
    .option('--cursor <cursor>', 'the next page, as printed by the previous one')
    .option('--format <format>', 'table or json', 'table')
    .action(async (opts: ActivityOptions) => {
      // Every input is checked before anything is opened.
      if (opts.action !== undefined && !isActivityAction(opts.action)) {
        throw new CliInputError(`unknown action "${opts.action}"; expected one of ${ACTIVITY_ACTIONS.join(', ')}`);
      }
      const from = parseTime('--from', opts.from);
      const to = parseTime('--to', opts.to);
      if (from && to && from >= to) throw new CliInputError('--from must be before --to');
      const limit = parseLimit(opts.limit, 50);
      const format = parseFormat(opts.format);
      const page = await withReadModels((orm) =>
        queryActivity(orm, {
          ...(opts.user !== undefined ? { userId: opts.user } : {}),
          ...(opts.action !== undefined && isActivityAction(opts.action) ? { action: opts.action } : {}),
          ...(from ? { from } : {}),
          ...(to ? { to } : {}),
          ...(opts.cursor !== undefined ? { cursor: opts.cursor } : {}),
          limit,
        }),
      );
      printPage(page, format, ['at', 'user', 'action', 'target'], (a) => [a.at.toISOString(), a.userId, a.action, a.target ?? '']);
    });
}
