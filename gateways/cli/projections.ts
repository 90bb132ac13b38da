import cliProgress from 'cli-progress';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { SQL_PROJECTIONS, sqlProjectionNamed } from '../../projections/index.js';
import { compactInbox } from '../../projections/runtime/inbox-compaction.js';
import { rebuildProjection, type RebuildProgress } from '../../projections/runtime/rebuild.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { projectionStatus } from '../../projections/runtime/status.js';
import { listDeadLetters, withBothSides, type CommandSide, type ReadModelOrm } from '../service/tools.js';
import { formatOption, limitOption, numberOption, type Format } from './options.js';
import { formatTable, toJson } from './read-models.js';

const KNOWN = SQL_PROJECTIONS.map((p) => p.name).join(', ');

/** A projection's name; with `orAll`, also '*' (records of every projection at once). */
function projectionName(orAll: boolean): (name: string) => string {
  return (name) => {
    if (!(orAll && name === '*') && !sqlProjectionNamed(name)) throw new InvalidArgumentError(`unknown projection "${name}"; known: ${KNOWN}`);
    return name;
  };
}

const projectionOption = (orAll: boolean): Option => new Option('--projection <name>', 'only this projection').argParser(projectionName(orAll));

/** The event store (through the runtime) and the read models, for one command. */
function withStoreAndReadModels<T>(task: (rt: CommandSide, orm: ReadModelOrm) => Promise<T>): Promise<T> {
  return withBothSides(task);
}

export function registerProjectionsCommands(program: Command): void {
  const projections = program.command('projections').description(`SQL read models (${KNOWN}): rebuild, status, inbox compaction, dead letters`);

  projections
    .command('rebuild')
    .argument('<name>', 'the projection', projectionName(false))
    .description('replay the whole log into fresh tables and swap them in (blue/green)')
    .addOption(numberOption('--batch-size <n>', 'events per page and transaction (100-50000)', 100, 50_000, 5000))
    .action(async (name: string, { batchSize }: { batchSize: number }) => {
      await withStoreAndReadModels(async (rt, orm) => {
        // Positions are opaque (PostgreSQL packs transaction ids), so progress is the share of the
        // position range from the first page to the head, and the event count is shown beside it.
        const bar = new cliProgress.SingleBar(
          { stream: process.stderr, format: `${name} [{bar}] {percentage}% | {events} events | {phase}`, hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        let first: bigint | null = null;
        bar.start(1000, 0, { events: 0, phase: 'replay' });
        const onProgress = (p: RebuildProgress): void => {
          first ??= p.position;
          const span = p.head - first;
          const share = span > 0n ? Number(((p.position - first) * 1000n) / span) : 1000;
          bar.update(p.phase === 'done' ? 1000 : Math.min(999, share), { events: p.events, phase: p.phase });
        };
        try {
          const r = await rebuildProjection({ db: orm.db, store: rt.store, projections: SQL_PROJECTIONS, name, logger: rt.logger, batchSize, onProgress });
          bar.stop();
          const parked = `${r.skippedParked > 0 ? `, ${r.skippedParked} left parked` : ''}${r.parkedUnknown > 0 ? `, ${r.parkedUnknown} of an unknown version parked` : ''}`;
          process.stdout.write(
            `rebuilt ${name}: ${r.events} events (${r.applied} applied${parked}) in ${r.seconds.toFixed(2)} s, ${r.eventsPerSecond} events/s\n`,
          );
        } catch (err) {
          bar.stop();
          throw err;
        }
      });
    });

  projections
    .command('compact')
    .description('drop inbox rows below each projection\'s applied prefix of the log (the projector also does this every minute)')
    .addOption(projectionOption(false))
    .addOption(formatOption())
    .action(async ({ format, ...opts }: { projection?: string; format: Format }) => {
      const chosen = opts.projection ? SQL_PROJECTIONS.filter((p) => p.name === opts.projection) : SQL_PROJECTIONS;
      // No page limit: a manual run goes as far as it can.
      const results = await withStoreAndReadModels((rt, orm) =>
        compactInbox({ db: orm.db, store: rt.store, projections: chosen, logger: rt.logger, maxPages: Number.MAX_SAFE_INTEGER }),
      );
      if (format === 'json') {
        process.stdout.write(`${toJson(results)}\n`);
        return;
      }
      process.stdout.write(
        formatTable(
          ['projection', 'floor', 'rows removed', 'stopped at', 'why'],
          results.map((r) => [r.projection, r.floor, String(r.removed), r.stoppedAt?.position ?? '-', r.stoppedAt?.reason ?? 'end of the log']),
        ),
      );
    });

  projections
    .command('status')
    .description('checkpoint, lag and dead letters per projection; verdict ok, lagging or stalled')
    .addOption(numberOption('--stall-after <seconds>', 'call a projection stalled when nothing moved for this long (1-1000)', 1, 1000, 30))
    .addOption(formatOption())
    .action(async ({ stallAfter, format }: { stallAfter: number; format: Format }) => {
      const status = await withStoreAndReadModels((rt, orm) =>
        projectionStatus({ db: orm.db, store: rt.store, projections: SQL_PROJECTIONS, stallAfterMs: stallAfter * 1000 }),
      );
      if (format === 'json') {
        process.stdout.write(`${toJson(status)}\n`);
        return;
      }
      process.stdout.write(
        formatTable(
          ['projection', 'verdict', 'checkpoint', 'head', 'lag events', 'lag s', 'dead letters', 'unknown', 'stopped at', 'version'],
          status.map((s) => [
            s.projection, s.verdict, s.checkpoint, s.head, `${s.lagEvents}${s.lagEventsCapped ? '+' : ''}`, String(s.lagSeconds), String(s.deadLetters),
            String(s.unknownEvents), s.stoppedAt ? `${s.stoppedAt.position} (${s.stoppedAt.reason})` : '-',
            s.needsRebuild ? `${s.storedVersion} -> ${s.version} (rebuild)` : String(s.version),
          ]),
        ),
      );
    });

  projections
    .command('dead-letters')
    .description('list parked records (oldest first); an error starting unknown-type: or unknown-version: is an event this release could not read')
    .addOption(projectionOption(true))
    .option('--all', 'include those already retried')
    .addOption(limitOption(100, 'at most this many (1-1000)'))
    .addOption(formatOption())
    .action(async ({ limit, format, ...opts }: { projection?: string; all?: boolean; limit: number; format: Format }) => {
      const letters = await withStoreAndReadModels((_rt, orm) =>
        listDeadLetters(orm, { ...(opts.projection ? { projection: opts.projection } : {}), includeRetried: opts.all === true, limit }),
      );
      if (format === 'json') {
        process.stdout.write(`${toJson(letters)}\n`);
        return;
      }
      process.stdout.write(
        formatTable(
          ['id', 'projection', 'event', 'type', 'position', 'attempts', 'parked', 'retried', 'error'],
          letters.map((d) => [
            d.id, d.projection, d.eventId, d.type ?? '', d.position, String(d.attempts), d.parkedAt?.toISOString() ?? '', d.retriedAt?.toISOString() ?? '',
            d.error.replace(/\s+/g, ' ').slice(0, 120),
          ]),
        ),
      );
    });

  projections
    .command('retry')
    .description('re-apply parked records (read again from the event store) and mark them retried; the projector also retries unknown-type/version ones when it starts')
    .addOption(projectionOption(true))
    .addOption(new Option('--id <id...>', 'only these dead letters').argParser((id: string, previous: string[] | undefined) => {
      if (!/^\d+$/.test(id)) throw new InvalidArgumentError('--id must be dead-letter ids (whole numbers)');
      return [...(previous ?? []), id];
    }))
    .option('--unknown', 'only events parked because the release that met them could not read their type or version')
    .action(async (opts: { projection?: string; id?: string[]; unknown?: boolean }) => {
      const result = await withStoreAndReadModels((rt, orm) =>
        // With the store: each event is read again (so a fixed upcaster applies), and a projection
        // stopped at an event of an unknown version catches up once that event is retried.
        createSqlProjector({ db: orm.db, projections: SQL_PROJECTIONS, logger: rt.logger, store: rt.store }).retryDeadLetters({
          ...(opts.projection ? { projection: opts.projection } : {}),
          ...(opts.id ? { ids: opts.id } : {}),
          ...(opts.unknown ? { unknownOnly: true } : {}),
        }),
      );
      process.stdout.write(`${toJson(result)}\n`);
      if (result.unmatched) {
        process.stderr.write(`no parked dead letter awaiting a retry has the id ${result.unmatched.join(', ')}${opts.projection ? ` for projection ${opts.projection}` : ''}${opts.unknown ? ' among the unknown-type/version ones' : ''} (chat projections dead-letters --all lists them)\n`);
      }
      if (result.failed.length > 0 || result.unmatched) process.exitCode = 1;
    });
}
