// The read side for HTTP tests: SQL read models fed from the event store, and optionally the
// last-messages view (memory, or Redis under the test's key prefix) fed by its projection.
import type { HttpReadModels } from '../../gateways/http/read-port.js';
import { sqlReadModels } from '../../gateways/service/http-read-models.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import type { LastMessagesView, LastMessagesViewAdmin } from '../../projections/ports/last-messages.js';
import { MemoryLastMessagesView } from '../../infra/last-messages/memory.js';
import { RedisLastMessagesView } from '../../infra/last-messages/redis.js';
import type { RedisSentinelConfig } from '../../infra/config.js';
import type { Logger } from 'pino';
import { openReadModelOrm, type ReadModelOrm, type ReadModelTarget } from '../../infra/read-models/orm.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { LastMessagesProjection } from '../../projections/last-messages.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { createStoreFeed } from '../../projections/runtime/store-feed.js';
import { createSqlErrorLogWriter, type ErrorLogRow } from '../../infra/error-log/destination.js';

/** The view on Redis: one server, or the primary a Sentinel group names (redisUrl then gives only credentials). */
export interface ViewOnRedis {
  redisUrl: string;
  commandTimeoutMs?: number;
  sentinel?: RedisSentinelConfig;
}

export interface TestReads {
  reads: HttpReadModels;
  view: LastMessagesView | null;
  orm: ReadModelOrm;
  /** Writes error-log rows the way the error-log destination does. */
  logErrors(rows: ErrorLogRow[]): Promise<void>;
  settle(): Promise<void>;
  close(): Promise<void>;
}

async function waitUntil(label: string, cond: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function openTestReads(
  target: ReadModelTarget,
  store: EventStore,
  logger: Logger,
  viewChoice: 'none' | 'memory' | ViewOnRedis,
  redisPrefix: string,
  newestAppended: () => bigint,
): Promise<TestReads> {
  const orm = await openReadModelOrm(target, logger);
  const reads = sqlReadModels(orm);
  const projector = createSqlProjector({ db: orm.db, projections: SQL_PROJECTIONS, logger });
  const feed = createStoreFeed({ store, projector, logger, lingerMs: 5 });
  await feed.start();
  const writer = createSqlErrorLogWriter((sql, params) => orm.em.getConnection().execute(sql, params));

  let view: LastMessagesViewAdmin | null = null;
  let projection: LastMessagesProjection | null = null;
  if (viewChoice !== 'none') {
    view = viewChoice === 'memory'
      ? new MemoryLastMessagesView()
      : new RedisLastMessagesView({ url: viewChoice.redisUrl, sentinel: viewChoice.sentinel, keyPrefix: redisPrefix, commandTimeoutMs: viewChoice.commandTimeoutMs ?? 10_000, logger, connectTimeoutMs: 3_000 });
    projection = new LastMessagesProjection({ store, view, logger, epochCheckMs: 200, retryInitialMs: 50, retryMaxMs: 500 });
    projection.start();
  }

  return {
    reads,
    view,
    orm,
    logErrors: (rows) => writer.insert(rows),
    async settle() {
      const target = newestAppended();
      await feed.waitFor(target, 15_000);
      if (projection) {
        const p = projection;
        await waitUntil('last-messages view', () => p.status().state === 'live' && BigInt(p.status().checkpoint) >= target);
      }
    },
    async close() {
      await projection?.stop();
      await view?.close();
      await feed.stop();
      await orm.close(true);
    },
  };
}
