/**
 * `chat audit`: for auditors. `activity` replays user actions straight from the event log (the
 * source of truth) and streams them as a table, JSON Lines or CSV; `verify` replays the whole log
 * into scratch read models and compares them with the live ones, exiting 1 on any difference.
 * Data goes to stdout (or --out); progress, warnings and the summary to stderr.
 */
import { once } from 'node:events';
import { constants } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { ActivityAction } from '../../projections/activity-of.js';
import { auditActivity, formatActivity, AUDIT_FORMATS, type AuditFilter, type AuditFormat, type AuditStats } from '../../projections/audit/export.js';
import { verifyReadModels, type ProjectionReport, type VerifyReport } from '../../projections/audit/verify.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { actionOption } from './activity.js';
import { formatOption, fromOption, numberOption, toOption, userOption, type Format } from './options.js';
import { formatTable, toJson } from './read-models.js';
import { withBothSides } from '../service/tools.js';
import { CliInputError, withRuntime } from './shared.js';

interface ActivityOptions {
  user?: string;
  action?: ActivityAction;
  from?: Date;
  to?: Date;
  format: AuditFormat;
  out?: string;
  force?: boolean;
  progress?: boolean;
}

interface VerifyOptions {
  format: Format;
  rows: number;
  wait: number;
  batchSize: number;
  progress?: boolean;
}

/** At most this many unreadable events are named on stderr; the rest are counted. */
const MAX_WARNINGS = 20;

/**
 * A progress bar on stderr over the share of the position range read (positions are opaque, so the
 * share of the range from the first event to the head stands in for the share of events): shown
 * when stderr is a terminal, or always with --progress.
 */
function progressBar(label: string, forced: boolean): { update(first: bigint | null, position: bigint, head: bigint, payload: Record<string, string | number>): void; stop(): void } {
  if (!forced && !process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: `${label} [{bar}] {percentage}% | {events} events | {detail}`, hideCursor: true, noTTYOutput: forced, notTTYSchedule: 1000 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(1000, 0, { events: 0, detail: '' });
  return {
    update(first, position, head, payload) {
      const span = first === null ? 0n : head - first;
      const share = first === null ? 0 : span > 0n ? Number(((position - first) * 1000n) / span) : 1000;
      bar.update(Math.max(0, Math.min(1000, share)), payload);
    },
    stop: () => bar.stop(),
  };
}

/** The --out file, checked as openOutput says; every refusal is a usage error naming the file. */
async function openExportFile(file: string, force: boolean): Promise<FileHandle> {
  let handle: FileHandle | undefined;
  try {
    const existing = await lstat(file).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(err)));
    if (existing?.isSymbolicLink()) throw new Error('it is a symbolic link');
    if (existing?.isFile() && !force) throw new CliInputError(`--out ${file} exists; pass --force to replace it`);
    const regular = existing === null || existing.isFile();
    const how = existing === null ? constants.O_CREAT | constants.O_EXCL : existing.isFile() ? constants.O_TRUNC : 0;
    handle = await open(file, constants.O_WRONLY | constants.O_NOFOLLOW | how, 0o600);
    // What was opened must be what was checked: a file swapped in between is refused, not written.
    if ((await handle.stat()).isFile() !== regular) throw new Error('it changed while being opened');
    if (regular) await handle.chmod(0o600);
    return handle;
  } catch (err) {
    await handle?.close();
    if (err instanceof CliInputError) throw err;
    throw new CliInputError(`cannot write --out ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * stdout, or a new file readable by its owner only (an audit export is sensitive). An existing regular
 * file is refused unless `--force`: a mistyped path (a privileged one, run as root) must not be
 * clobbered; with `--force` it is narrowed to 0600 before anything is written. A device or a pipe
 * (`/dev/null`, a FIFO) is written as it is, never truncated or re-permissioned. A symbolic link is
 * refused either way rather than followed (in a shared directory someone else may have planted it).
 */
async function openOutput(file: string | undefined, force: boolean): Promise<{ stream: Writable; close(): Promise<void> }> {
  if (file === undefined) return { stream: process.stdout, close: async () => undefined };
  const handle = await openExportFile(file, force);
  const stream = handle.createWriteStream();
  return {
    stream,
    async close() {
      stream.end();
      await once(stream, 'finish');
    },
  };
}

/** Writes with backpressure: waits for 'drain' when the stream's buffer is full, fails on its 'error'. */
async function writeAll(stream: Writable, chunks: AsyncIterable<string>): Promise<void> {
  let failed: Error | null = null;
  const onError = (err: Error): void => {
    failed = err;
  };
  stream.on('error', onError);
  try {
    for await (const chunk of chunks) {
      if (failed) throw failed;
      // once() rejects if the stream emits 'error' while waiting.
      if (!stream.write(chunk)) await once(stream, 'drain');
    }
    if (failed) throw failed;
  } finally {
    stream.off('error', onError);
  }
}

async function runActivity({ from, to, format, ...opts }: ActivityOptions): Promise<void> {
  // Every input is checked before anything is opened (each option by commander as it parses).
  if (from && to && from >= to) throw new CliInputError('--from must be before --to');
  if (opts.force === true && opts.out === undefined) throw new CliInputError('--force goes with --out');
  const filter: AuditFilter = {
    ...(opts.user !== undefined ? { userId: opts.user } : {}),
    ...(opts.action !== undefined ? { action: opts.action } : {}),
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
  };
  await withRuntime(async (rt) => {
    // Opened once the store is: a command refused for its DATA_DIR leaves no empty export behind.
    const out = await openOutput(opts.out, opts.force === true);
    try {
      const bar = progressBar('audit', opts.progress === true);
      let stats: AuditStats | null = null;
      let warned = 0;
      try {
        const rows = auditActivity(rt.store, filter, {
          onProgress: (s) => {
            stats = s;
            bar.update(s.first, s.position, s.head, { events: s.scanned, detail: `${s.matched} rows` });
          },
          onUnreadable: (e) => {
            if (warned++ < MAX_WARNINGS) {
              rt.logger.warn({ eventId: e.eventId, position: e.position, type: e.type, err: e.error }, 'audit: event skipped, it cannot be read as an action');
            }
          },
        });
        await writeAll(out.stream, formatActivity(rows, format));
      } finally {
        bar.stop();
      }
      const s = stats as AuditStats | null;
      if (s) {
        const unreadable = s.unreadable > 0 ? `; ${s.unreadable} events could not be read as actions (see the warnings)` : '';
        process.stderr.write(`audit: ${s.matched} rows from ${s.scanned} events, through position ${s.position}${unreadable}\n`);
      }
    } finally {
      await out.close();
    }
  });
}

const cellText = (v: unknown): string => (v === null || v === undefined ? 'null' : typeof v === 'string' ? v : JSON.stringify(v));

function describeVerify(report: VerifyReport): string {
  const lines: string[] = [];
  lines.push(
    formatTable(
      ['projection', 'verdict', 'live checkpoint', 'replayed through', 'version'],
      report.projections.map((p: ProjectionReport) => [p.projection, p.verdict, p.liveCheckpoint, p.replayedThrough, p.needsRebuild ? 'needs rebuild' : 'current']),
    ),
    '\n',
  );
  const tables = report.projections.flatMap((p) => p.tables);
  lines.push(
    formatTable(
      ['table', 'live rows', 'replayed rows', 'missing', 'extra', 'changed'],
      tables.map((t) => [t.table, String(t.liveRows), String(t.replayedRows), String(t.missing), String(t.extra), String(t.changed)]),
    ),
    '\n',
  );
  for (const t of tables) {
    if (t.missing + t.extra + t.changed === 0) continue;
    lines.push(`${t.table}: ${t.missing} missing, ${t.extra} extra, ${t.changed} changed; first differing rows:\n`);
    for (const d of t.differences) {
      const key = Object.entries(d.key).map(([k, v]) => `${k}=${cellText(v)}`).join(' ');
      if (d.kind === 'changed') {
        const cols = d.columns.map((c) => `${c}: live ${cellText(d.live?.[c])} / replayed ${cellText(d.replayed?.[c])}`).join('; ');
        lines.push(`  changed ${key}: ${cols}\n`);
      } else if (d.kind === 'missing') lines.push(`  missing in live ${key}: replayed ${JSON.stringify(d.replayed)}\n`);
      else lines.push(`  extra in live ${key}: ${JSON.stringify(d.live)}\n`);
    }
  }
  for (const p of report.projections) {
    if (p.verdict === 'behind') lines.push(`${p.projection}: the live projection is behind the log (checkpoint ${p.liveCheckpoint} < ${p.replayedThrough}); is the projector running?\n`);
    if (p.verdict === 'ahead') lines.push(`${p.projection}: the live projection kept moving during the comparison; run verify again when it is quieter\n`);
  }
  if (report.replayFailures.length > 0) {
    lines.push(`${report.replayFailures.length} events could not be applied in the replay (the live runtime parks such events as dead letters):\n`);
    for (const f of report.replayFailures.slice(0, MAX_WARNINGS)) lines.push(`  ${f.projection}: event ${f.eventId} (${f.type}) at ${f.position}: ${f.error}\n`);
  }
  const differing = tables.filter((t) => t.missing + t.extra + t.changed > 0).length;
  lines.push(
    report.ok
      ? `verify: every read model equals the log (${report.events} events replayed in ${report.seconds.toFixed(2)} s, ${report.eventsPerSecond} events/s)\n`
      : `verify: the read models differ from the log (${differing} of ${tables.length} tables differ; ${report.events} events replayed)\n`,
  );
  return lines.join('');
}

async function runVerify({ format, rows: sampleRows, wait: waitSeconds, batchSize, ...opts }: VerifyOptions): Promise<void> {
  const report = await withBothSides(async (rt, orm) => {
    const bar = progressBar('verify', opts.progress === true);
    try {
      return await verifyReadModels({
        db: orm.db, store: rt.store, projections: SQL_PROJECTIONS, logger: rt.logger, batchSize, sampleRows, waitMs: waitSeconds * 1000,
        onProgress: (p) => bar.update(p.first, p.position, p.head, { events: p.events, detail: p.phase }),
      });
    } finally {
      bar.stop();
    }
  });
  process.stdout.write(format === 'json' ? `${toJson(report)}\n` : describeVerify(report));
  if (!report.ok) process.exitCode = 1;
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('for auditors: activity straight from the event log; read models checked against it');

  audit
    .command('activity')
    .description('user actions replayed from the event log, oldest first, each with its event id and log position')
    .addOption(userOption())
    .addOption(actionOption())
    .addOption(fromOption())
    .addOption(toOption())
    .addOption(formatOption(AUDIT_FORMATS))
    .option('--out <file>', 'write to this new file (created owner-only) instead of standard output')
    .option('--force', 'with --out: replace the file if it exists')
    .option('--progress', 'show the progress bar on standard error even when it is not a terminal')
    .action(runActivity);

  audit
    .command('verify')
    .description('replay the whole log into scratch read models and compare them with the live ones; exit 1 on any difference')
    .addOption(formatOption())
    .addOption(numberOption('--rows <n>', 'differing rows shown per table (1-1000)', 1, 1000, 5))
    .addOption(numberOption('--wait <seconds>', 'how long to wait for a live projection that is behind the log (0-3600)', 0, 3600, 5))
    .addOption(numberOption('--batch-size <n>', 'events per replay page and transaction (100-50000)', 100, 50_000, 5000))
    .option('--progress', 'show the progress bar on standard error even when it is not a terminal')
    .action(runVerify);
}
