import { Option, type Command } from 'commander';
import { ACTIVITY_ACTIONS, type ActivityAction } from '../../projections/activity-of.js';
import { queryActivity } from '../../projections/activity-log.js';
import { formatOption, fromOption, limitOption, oneOf, toOption, userOption, type Format } from './options.js';
import { printPage, withReadModels } from './read-models.js';
import { CliInputError } from './shared.js';

interface ActivityOptions {
  user?: string;
  action?: ActivityAction;
  from?: Date;
  to?: Date;
  limit: number;
  cursor?: string;
  format: Format;
}

/** `--action <action>`, shared with `audit activity`. */
export const actionOption = (): Option =>
  new Option('--action <action>', `only this action: ${ACTIVITY_ACTIONS.join(', ')}`)
    .argParser(oneOf(ACTIVITY_ACTIONS, (v) => `unknown action "${v}"; expected one of ${ACTIVITY_ACTIONS.join(', ')}`));

export function registerActivityCommand(program: Command): void {
  program
    .command('activity')
    .description('audit trail of user actions, newest first')
    .addOption(userOption())
    .addOption(actionOption())
    .addOption(fromOption())
    .addOption(toOption())
    .addOption(limitOption(50))
    .option('--cursor <cursor>', 'the next page, as printed by the previous one')
    .addOption(formatOption())
    .action(async ({ from, to, limit, format, ...opts }: ActivityOptions) => {
      // Every input is checked before anything is opened (each option by commander as it parses).
      if (from && to && from >= to) throw new CliInputError('--from must be before --to');
      const page = await withReadModels((orm) =>
        queryActivity(orm.db, {
          ...(opts.user !== undefined ? { userId: opts.user } : {}),
          ...(opts.action !== undefined ? { action: opts.action } : {}),
          ...(from ? { from } : {}),
          ...(to ? { to } : {}),
          ...(opts.cursor !== undefined ? { cursor: opts.cursor } : {}),
          limit,
        }),
      );
      printPage(page, format, ['at', 'user', 'action', 'target'], (a) => [a.at.toISOString(), a.userId, a.action, a.target ?? '']);
    });
}
