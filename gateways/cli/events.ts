import type { Command } from 'commander';
import { toPublicRecord } from '../../projections/ports/public-record.js';
import { numberOption, position } from './options.js';
import { withRuntime } from './shared.js';

export function registerEventsCommands(program: Command): void {
  const events = program.command('events').description('read the event log (redacted)');
  events
    .command('tail')
    .description('print events after a position as JSON lines')
    // No default value here: commander prints defaults with JSON.stringify, which a bigint breaks.
    .option('--after <position>', 'start after this global position (default: 0)', position)
    .addOption(numberOption('--limit <n>', 'at most this many events (1-1000000)', 1, 1_000_000, 100))
    .action(async (opts: { after?: bigint; limit: number }) => {
      await withRuntime(async (rt) => {
        let after = opts.after ?? 0n;
        let left = opts.limit;
        while (left > 0) {
          const page = await rt.store.readAll({ after, maxCount: Math.min(left, 1000) });
          if (page.length === 0) break;
          for (const e of page) process.stdout.write(`${JSON.stringify(toPublicRecord(e))}\n`);
          left -= page.length;
          after = page[page.length - 1]!.position;
        }
      });
    });
  events
    .command('head')
    .description('print the store kind and the newest visible position')
    .action(async () => {
      await withRuntime(async (rt) => {
        process.stdout.write(`${JSON.stringify({ store: rt.store.kind, head: String(await rt.store.headPosition()) })}\n`);
      });
    });
}
