/**
 * A projection registered after the log began, behind RabbitMQ: the projector receives only new
 * events, so its first live batch would move its checkpoint past a history it never saw, and status
 * would then say `ok` while rows are missing (a team adding a projection met exactly that). Found
 * before the consumer starts: a projection with no checkpoint row while the log holds events. It is
 * filled from the log by a rebuild (blue/green: live batches go on meanwhile, and the rebuild's
 * final catch-up and swap take over). In-process feeds need none of this: they start at the lowest
 * checkpoint, so a new projection reads the log from its start anyway.
 */
import type { Logger } from 'pino';
import type { EventStore } from '../../commands/ports/event-store.js';
import type { ReadModelDb } from '../ports/read-model.js';
import type { SqlProjection } from '../projection.js';
import { readCheckpoints } from './apply.js';
import { RebuildBusyError, rebuildProjection } from './rebuild.js';

export interface FillNewOptions {
  db: ReadModelDb;
  store: EventStore;
  projections: ReadonlyArray<SqlProjection>;
  logger: Logger;
  batchSize?: number;
}

/** The projections that were never applied (no checkpoint row) while the log holds events. */
export async function unfilledProjections(opts: Pick<FillNewOptions, 'db' | 'store' | 'projections'>): Promise<SqlProjection[]> {
  const stored = await readCheckpoints(opts.db, opts.db.sql);
  const fresh = opts.projections.filter((p) => !stored.has(p.name));
  // An empty log: live events fill them from its start.
  if (fresh.length === 0 || (await opts.store.headPosition()) === 0n) return [];
  return fresh;
}

/** Rebuilds each of `fresh` from the log, one after another; resolves when all are done or given up. */
export async function fillFromLog(fresh: ReadonlyArray<SqlProjection>, opts: FillNewOptions): Promise<void> {
  const log = opts.logger.child({ component: 'fill-new-projections' });
  for (const p of fresh) {
    log.info({ projection: p.name }, 'a projection new to this log: filling it from the log');
    try {
      const r = await rebuildProjection({ db: opts.db, store: opts.store, projections: opts.projections, name: p.name, logger: opts.logger, ...(opts.batchSize ? { batchSize: opts.batchSize } : {}) });
      log.info({ projection: p.name, events: r.events, applied: r.applied }, 'new projection filled from the log');
    } catch (err) {
      // Another projector starting at the same time holds the rebuild: it fills it.
      const already = err instanceof RebuildBusyError;
      log[already ? 'info' : 'warn']({ projection: p.name, err: err instanceof Error ? err.message : String(err) },
        already ? 'another process is filling the new projection' : 'filling a new projection failed: run `chat projections rebuild` for it');
    }
  }
}
