/**
 * The composition root: builds the parts a role needs from the Config, starts them, and stops them
 * in reverse order on shutdown. A part's heavy modules (fastify and its plugins, uWebSockets.js,
 * amqplib) are imported only by the roles that run it, which keeps every role's start short. On the embedded default (no DATABASE_URL / REDIS_URL / AMQP_URL)
 * role `all` runs everything in one process on SQLite files, an in-memory view and the store's own
 * subscription as the bus.
 */
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { LastMessagesProjection } from '../../projections/last-messages.js';
import { BrokerViewFeed, feedingView } from '../../projections/last-messages-feed.js';
import { fillFromLog, unfilledProjections } from '../../projections/runtime/fill-new.js';
import { scheduleInboxCompaction } from '../../projections/runtime/inbox-compaction.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { createStoreFeed } from '../../projections/runtime/store-feed.js';
import { projectionStatus } from '../../projections/runtime/status.js';
import type { Config } from '../../infra/config.js';
import { createRedisClient, redisEndpointOf } from '../../infra/redis-client.js';
import { createErrorLogStream, createSqlErrorLogWriter } from '../../infra/error-log/destination.js';
import { errorLogDropCounter } from '../../infra/error-log/metrics.js';
import { MemoryLastMessagesView } from '../../infra/last-messages/memory.js';
import type { LastMessagesView, LastMessagesViewAdmin } from '../../projections/ports/last-messages.js';
import { createLogger, type Logger } from '../../infra/logger.js';
import { messageCountsPerDay } from '../../projections/messages-per-user-per-day.js';
import { exportActivity } from '../../projections/audit/export.js';
import { emOf, openReadModelOrm, sqlOf, sqlQuery, type ReadModelOrm } from '../../infra/read-models/orm.js';
import type { ReplicaReads } from '../http/replica-reads.js';
import type { WsGateway } from '../ws/server.js';
import { httpConfigFrom } from './from-config.js';
import { degradesOnly, projectionLagFeed, projectionsReadiness } from '../http/ops-wiring.js';
import type { OptionalReadinessCheck, ReadinessCheck } from '../http/deps.js';
import { partsOf, type Role } from './roles.js';
import { wsConfig } from '../ws/config.js';
import { keepFresh } from '../../commands/handle-command.js';
import { openCommandSide, openReadSide, openSessions, openSharedView } from './wiring.js';
import { ephemeralSettingsFrom, openPresenceBus } from './ws-wiring.js';
import { sameHostWsUrl } from '../web/ws-url.js';
import { accountEraser } from './account-erasure.js';
import { unsealingSink } from '../../infra/keys/unsealing-sink.js';
import { scrubBodiesOf } from '../../infra/read-models/queries/erasure.js';

/**
 * History from DATABASE_READ_URL's streaming replica. A replica that cannot be opened at start is
 * logged and left out (history from the primary), rather than keeping the API down.
 */
async function openReplicaReads(config: Config, primary: ReadModelOrm, logger: Logger): Promise<{ reads: ReplicaReads; close: () => Promise<void> } | null> {
  if (!config.databaseReadUrl) return null;
  const [{ sqlReadModels }, { replicaReads }] = await Promise.all([import('./http-read-models.js'), import('../http/replica-reads.js')]);
  try {
    const orm = await openReadModelOrm({ kind: 'postgresql', connectionString: config.databaseReadUrl, schema: config.databaseSchema }, logger);
    return { reads: replicaReads({ primary: sqlReadModels(primary), replica: sqlReadModels(orm), logger }), close: () => orm.close() };
  } catch (err) {
    logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'read replica (DATABASE_READ_URL) unavailable at start; history from the primary');
    return null;
  }
}

/** The origins of this process's own pages: the configured host, and the loopback names, at the HTTP port. */
const ownPageOrigins = (host: string, port: number): string[] =>
  [...new Set([`http://${host}:${port}`, `http://localhost:${port}`, `http://127.0.0.1:${port}`])];

export { installProcessErrorHandlers } from '../../infra/process-errors.js';

export interface RunningService {
  logger: Logger;
  /** Base URL of the HTTP API when this role serves it. */
  url: string | null;
  stop(): Promise<void>;
}

type Stopper = { name: string; stop: () => Promise<unknown> };

export async function startService(config: Config, role: Role): Promise<RunningService> {
  const parts = partsOf(role);
  const streams = pino.multistream([{ level: config.logLevel === 'silent' ? 'fatal' : config.logLevel, stream: process.stdout }]);
  const logger = createLogger({ level: config.logLevel, name: `chat-${role}` }, streams);
  const stoppers: Stopper[] = [];
  const stop = async () => {
    for (const s of stoppers.reverse()) {
      try {
        await s.stop();
      } catch (err) {
        logger.warn({ err, part: s.name }, 'error while stopping');
      }
    }
    stoppers.length = 0;
  };
  try {
    const rt = await openCommandSide(config, logger);
    stoppers.push({ name: 'event store', stop: () => rt.close() });
    const readiness: Record<string, ReadinessCheck | OptionalReadinessCheck> = { eventStore: async () => { await rt.store.headPosition(); } };

    const orm = await openReadSide(config, logger);
    stoppers.push({ name: 'read models', stop: () => orm.close() });
    // One registry per process: the error log's drop counter is served by GET /metrics with the HTTP metrics.
    const metricsRegistry = new Registry();
    const errorLog = createErrorLogStream(
      createSqlErrorLogWriter((sql, params) => sqlQuery(emOf(orm), sql, params as never), sqlOf(orm).name === 'sqlite' ? 'sqlite' : 'postgresql'),
      { onDropped: errorLogDropCounter(metricsRegistry), logger },
    );
    streams.add({ level: 'error', stream: errorLog });
    stoppers.push({ name: 'error log', stop: () => errorLog.flush() });
    if (config.databaseUrl) readiness['postgres'] = async () => { await sqlQuery(emOf(orm), 'select 1'); };

    // The view: Redis when configured (shared by all processes), else in memory in this process. Only
    // for the roles that read or write it: a relay alone has no use for Redis, nor for its outages in its log.
    const usesView = parts.projector || parts.http || parts.ws;
    const redisView = usesView ? await openSharedView(config, logger) : null;
    const view: LastMessagesViewAdmin = redisView ?? new MemoryLastMessagesView({ capacity: config.lastMessagesSize });
    stoppers.push({ name: 'last-messages view', stop: () => view.close() });
    // Redis only caches: history pages fall back to SQL, the login throttle to memory, and the view's
    // projection catches up when Redis returns. So an outage degrades this instance, it does not take it out.
    if (redisView) readiness['redis'] = degradesOnly(async () => { if (!redisView.connected) throw new Error('Redis is not connected'); });

    const status = () => projectionStatus({ db: orm.db, store: rt.store, projections: SQL_PROJECTIONS });

    // The projector's consumer feeds the view (one log read per event fewer). Not over partitions: a
    // process then receives only some chats, and the view's checkpoint is one position for the whole log.
    const viewFeed = parts.projector && config.amqpUrl && config.projector.partitions === 1 ? new BrokerViewFeed() : undefined;
    if (parts.projector || (!redisView && parts.http)) {
      const projection = new LastMessagesProjection({ store: rt.store, view, logger, feed: viewFeed });
      projection.start();
      stoppers.push({ name: 'last-messages projection', stop: () => projection.stop() });
    }
    if (parts.projector) {
      // PostgreSQL: the projector's batches on a pg pool of their own, with prepared statements (pg-db.ts).
      const { directPgDb } = await import('../../infra/read-models/pg-db.js');
      const direct = config.databaseUrl ? directPgDb(orm.db, { connectionString: config.databaseUrl, schema: config.databaseSchema ?? 'public' }) : null;
      if (direct) stoppers.push({ name: 'projector database pool', stop: () => direct.close() });
      const projector = createSqlProjector({ db: direct ?? orm.db, projections: SQL_PROJECTIONS, logger, store: rt.store });
      // With RabbitMQ, before anything writes a checkpoint (the retry below, the consumer's first batch):
      // a projection new to this log would get one past the history it never saw (projections/runtime/fill-new.ts).
      const fresh = config.amqpUrl
        ? await unfilledProjections({ db: orm.db, store: rt.store, projections: SQL_PROJECTIONS }).catch((err: unknown) => {
          logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not look for new projections; `chat projections status` shows them');
          return [];
        })
        : [];
      // Events an older release parked because it could not read their type or version: this release
      // may read them now. Before the feed or consumer starts, so a stopped projection resumes in order.
      const retried = await projector.retryUnknown().catch((err: unknown) => {
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'retrying parked unknown events failed; `chat projections retry --unknown` retries them');
        return null;
      });
      if (retried && (retried.retried > 0 || retried.failed.length > 0)) logger.info({ retried: retried.retried, stillUnknown: retried.failed.length }, 'parked unknown events retried');
      if (config.amqpUrl) {
        if (fresh.length > 0) void fillFromLog(fresh, { db: orm.db, store: rt.store, projections: SQL_PROJECTIONS, logger });
        const { startProjectorConsumer } = await import('../../infra/broker/processes.js');
        // RabbitMQ carries sealed records (the relay reads the raw log): open them with the key store here.
        const consumer = startProjectorConsumer(config, unsealingSink(viewFeed ? feedingView(projector, viewFeed) : projector, rt.keys), logger);
        stoppers.push({ name: 'projector consumer', stop: () => consumer.stop() });
        readiness['rabbitmq'] = async () => { if (!consumer.consumer.status().connected) throw new Error('RabbitMQ is not connected'); };
      } else {
        const feed = createStoreFeed({ store: rt.store, projector, logger });
        feed.start();
        stoppers.push({ name: 'projection feed', stop: () => feed.stop() });
      }
      readiness['projections'] = projectionsReadiness(status);
      // Stopped before the feed or consumer (stoppers run in reverse), so no page is left half done.
      const compaction = scheduleInboxCompaction({ db: orm.db, store: rt.store, projections: SQL_PROJECTIONS, logger });
      stoppers.push({ name: 'inbox compaction', stop: () => compaction.stop() });
    }
    if (parts.relay && config.amqpUrl) {
      const { startRelay } = await import('../../infra/broker/processes.js');
      const relay = startRelay(config, rt.rawStore, logger);
      stoppers.push({ name: 'relay', stop: () => relay.stop() });
      readiness['relay'] = async () => { if (!relay.connection.connected) throw new Error('RabbitMQ is not connected'); };
    }

    let url: string | null = null;
    const sessions = parts.http || parts.ws
      ? await openSessions(config)
      : null;
    if (sessions) stoppers.push({ name: 'sessions', stop: () => sessions.close() });
    const ws = wsConfig(config.ws);
    /** WsConfig.sameHostOriginPorts, shared with the gateway: filled before it serves the pages' sockets. */
    const sameHostPorts: number[] = [];
    // With no origins configured, the pages this process serves are the ones to let in.
    const ownPagesOnly = config.web.allowedOrigins.length === 0 && ws.allowedOrigins.length === 0 && parts.http;
    let gatewayPort: number | undefined;
    let gateway: WsGateway | undefined;
    if (parts.ws && sessions) {
      // Browsers send an Origin; by default the gateway accepts the pages' own origin only.
      // Port 0: no origin names a port yet; the pages' origins are let in once the HTTP listener has one.
      const pageOrigins = config.web.allowedOrigins.length > 0
        ? config.web.allowedOrigins
        : config.http.port === 0 ? [] : ownPageOrigins(config.http.host, config.http.port);
      // Listening on every interface (0.0.0.0, the image's default) the service does not know the name
      // its pages are opened by: with no origins configured, a page on the host the socket is opened to,
      // at the HTTP port, is its own. Port 0: the port the HTTP listener gets, added once it listens.
      if (ownPagesOnly && config.http.port !== 0) sameHostPorts.push(config.http.port);
      const { startWsGateway } = await import('../ws/server.js');
      const started = await startWsGateway({
        store: rt.store,
        commands: rt.commands,
        sessions,
        lastMessages: view,
        config: { ...ws, allowedOrigins: ws.allowedOrigins.length > 0 ? ws.allowedOrigins : pageOrigins, sameHostOriginPorts: sameHostPorts },
        // Per role (roles.ts): the gateway's log feed keeps the command cache fresh, so commands on a
        // cached stream, from sockets and (in role all) from the API, skip their read.
        ...(parts.commandCacheFollowsLog ? { observeLog: keepFresh(rt.commands.bus) } : {}),
        logger,
        // Typing and presence: through Redis across processes, else in this process with last-seen in DATA_DIR.
        presence: openPresenceBus(config, logger, config.redisUrl ? undefined : path.join(config.dataDir, 'last-seen.json')),
        ephemeral: ephemeralSettingsFrom(config),
      });
      stoppers.push({ name: 'websocket gateway', stop: () => started.close() });
      gateway = started;
      gatewayPort = started.port;
      logger.info({ port: started.port, runtime: started.stats().runtime }, 'websocket gateway listening');
    }
    if (parts.http && sessions) {
      const [{ sqlReadModels }, { buildHttpApp }] = await Promise.all([import('./http-read-models.js'), import('../http/app.js')]);
      const replicaReads = await openReplicaReads(config, orm, logger);
      if (replicaReads) stoppers.push({ name: 'read replica', stop: () => replicaReads.close() });
      // Login counters shared by every API process; fail fast so a Redis outage cannot hold logins up.
      const redisEndpoint = redisEndpointOf(config);
      const throttleRedis = redisEndpoint
        ? createRedisClient(redisEndpoint, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: config.redisCommandTimeoutMs, lazyConnect: false })
        : null;
      if (throttleRedis) {
        throttleRedis.on('error', () => { /* the throttle falls back to memory; the view logs Redis outages */ });
        stoppers.push({ name: 'throttle redis', stop: async () => { throttleRedis.disconnect(); } });
      }
      const app = await buildHttpApp({
        commands: rt.commands,
        sessions,
        reads: sqlReadModels(orm),
        replicaReads: replicaReads?.reads ?? null,
        lastMessages: view as LastMessagesView,
        readiness,
        metrics: { registry: metricsRegistry, collectDefault: true, projectionLag: projectionLagFeed(status) },
        rateLimitRedis: throttleRedis,
        messageCounts: (q) => messageCountsPerDay(orm.db, q),
        auditExport: (filter, format) => exportActivity(rt.store, filter, format),
        eraseAccount: accountEraser({
          commands: rt.commands, keys: rt.keys, sessions, logger,
          scrubReadModels: (userId, erasedAt) => scrubBodiesOf(orm, userId, erasedAt),
          view: redisView ?? (view instanceof MemoryLastMessagesView ? view : null),
        }),
        config: httpConfigFrom(config),
        // The gateway's real port when it runs here (WS_PORT=0 picks one), else the configured one.
        web: { wsUrl: sameHostWsUrl({ port: gatewayPort ?? ws.port, path: ws.path }) },
        logger,
      });
      // Registered last, so it stops first: no new requests, in-flight ones finish.
      const address = await app.listen({ host: config.http.host, port: config.http.port });
      const listening = app.server.address();
      // Port 0: the pages' own origins, known only now, let in as those of a fixed port were at the start.
      if (ownPagesOnly && gateway && config.http.port === 0 && typeof listening === 'object' && listening) {
        sameHostPorts.push(listening.port);
        gateway.allowOrigins(ownPageOrigins(config.http.host, listening.port));
      }
      stoppers.push({ name: 'http', stop: () => app.close() });
      url = address.replace('[::1]', 'localhost');
    }
    return { logger, url, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
