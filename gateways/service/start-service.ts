/**
 * The composition root: builds the parts a role needs from the Config, starts them, and stops them
 * in reverse order on shutdown. On the embedded default (no DATABASE_URL / REDIS_URL / AMQP_URL)
 * role `all` runs everything in one process on SQLite files, an in-memory view and the store's own
 * subscription as the bus.
 */
import { Redis } from 'ioredis';
import pino from 'pino';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { LastMessagesProjection } from '../../projections/last-messages.js';
import { scheduleInboxCompaction } from '../../projections/runtime/inbox-compaction.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { createStoreFeed } from '../../projections/runtime/store-feed.js';
import { projectionStatus } from '../../projections/runtime/status.js';
import { startProjectorConsumer, startRelay } from '../../infra/broker/processes.js';
import type { Config } from '../../infra/config.js';
import { createErrorLogStream, createSqlErrorLogWriter } from '../../infra/error-log/destination.js';
import { MemoryLastMessagesView } from '../../infra/last-messages/memory.js';
import type { LastMessagesView, LastMessagesViewAdmin } from '../../infra/last-messages/port.js';
import { RedisLastMessagesView } from '../../infra/last-messages/redis.js';
import { createLogger, type Logger } from '../../infra/logger.js';
import { openReadModels } from '../../infra/read-models/open.js';
import { messageCountsPerDay } from '../../infra/read-models/queries/message-counts.js';
import { exportActivity } from '../../projections/audit/export.js';
import { emOf, sqlOf, sqlQuery } from '../../infra/read-models/orm.js';
import { openRuntime } from '../../infra/runtime.js';
import { openSessionStore } from '../../infra/sessions/open.js';
import { buildHttpApp } from '../http/app.js';
import { httpConfigFrom, sessionPolicyFrom } from '../http/from-config.js';
import { projectionLagFeed, projectionsReadiness } from '../http/ops-wiring.js';
import type { ReadinessCheck } from '../http/deps.js';
import { partsOf, type Role } from './roles.js';
import { wsConfigFromEnv } from '../ws/config.js';
import { startWsGateway } from '../ws/server.js';
import { sameHostWsUrl } from '../web/ws-url.js';

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
    const rt = await openRuntime(config, logger);
    stoppers.push({ name: 'event store', stop: () => rt.close() });
    const readiness: Record<string, ReadinessCheck> = { eventStore: async () => { await rt.store.headPosition(); } };

    const orm = await openReadModels(config, logger);
    stoppers.push({ name: 'read models', stop: () => orm.close() });
    const errorLog = createErrorLogStream(createSqlErrorLogWriter((sql, params) => sqlQuery(emOf(orm), sql, params as never), sqlOf(orm).name === 'sqlite' ? 'sqlite' : 'postgresql'));
    streams.add({ level: 'error', stream: errorLog });
    stoppers.push({ name: 'error log', stop: () => errorLog.flush() });
    if (config.databaseUrl) readiness['postgres'] = async () => { await sqlQuery(emOf(orm), 'select 1'); };

    // The view: Redis when configured (shared by all processes), else in memory in this process.
    const redisView = RedisLastMessagesView.fromConfig(config, logger);
    const view: LastMessagesViewAdmin = redisView ?? new MemoryLastMessagesView();
    stoppers.push({ name: 'last-messages view', stop: () => view.close() });
    if (redisView) readiness['redis'] = async () => { if (!redisView.connected) throw new Error('Redis is not connected'); };

    const status = () => projectionStatus({ orm, store: rt.store, projections: SQL_PROJECTIONS });

    if (parts.projector || (!redisView && parts.http)) {
      const projection = new LastMessagesProjection({ store: rt.store, view, logger });
      projection.start();
      stoppers.push({ name: 'last-messages projection', stop: () => projection.stop() });
    }
    if (parts.projector) {
      const projector = createSqlProjector({ orm, projections: SQL_PROJECTIONS, logger });
      if (config.amqpUrl) {
        const consumer = startProjectorConsumer(config, projector, logger);
        stoppers.push({ name: 'projector consumer', stop: () => consumer.stop() });
        readiness['rabbitmq'] = async () => { if (!consumer.consumer.status().connected) throw new Error('RabbitMQ is not connected'); };
      } else {
        const feed = createStoreFeed({ store: rt.store, projector, logger });
        feed.start();
        stoppers.push({ name: 'projection feed', stop: () => feed.stop() });
      }
      readiness['projections'] = projectionsReadiness(status);
      // Stopped before the feed or consumer (stoppers run in reverse), so no page is left half done.
      const compaction = scheduleInboxCompaction({ orm, store: rt.store, projections: SQL_PROJECTIONS, logger });
      stoppers.push({ name: 'inbox compaction', stop: () => compaction.stop() });
    }
    if (parts.relay && config.amqpUrl) {
      const relay = startRelay(config, rt.store, logger);
      stoppers.push({ name: 'relay', stop: () => relay.stop() });
      readiness['relay'] = async () => { if (!relay.connection.connected) throw new Error('RabbitMQ is not connected'); };
    }

    let url: string | null = null;
    const sessions = parts.http || parts.ws
      ? await openSessionStore({ databaseUrl: config.databaseUrl, databaseSchema: config.databaseSchema, dataDir: config.dataDir, policy: sessionPolicyFrom(config) })
      : null;
    if (sessions) stoppers.push({ name: 'sessions', stop: () => sessions.close() });
    const ws = wsConfigFromEnv();
    if (parts.ws && sessions) {
      // Browsers send an Origin; by default the gateway accepts the pages' own origin only.
      const pageOrigins = config.web.allowedOrigins.length > 0
        ? config.web.allowedOrigins
        : [`http://${config.http.host}:${config.http.port}`, `http://localhost:${config.http.port}`, `http://127.0.0.1:${config.http.port}`];
      const gateway = await startWsGateway({
        store: rt.store,
        commands: rt.commands,
        sessions,
        lastMessages: view,
        config: { ...ws, allowedOrigins: ws.allowedOrigins.length > 0 ? ws.allowedOrigins : pageOrigins },
        logger,
      });
      stoppers.push({ name: 'websocket gateway', stop: () => gateway.close() });
      logger.info({ port: gateway.port, runtime: gateway.stats().runtime }, 'websocket gateway listening');
    }
    if (parts.http && sessions) {
      const { sqlReadModels } = await import('../http/read-models.js');
      // Login counters shared by every API process; fail fast so a Redis outage cannot hold logins up.
      const throttleRedis = config.redisUrl
        ? new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: config.redisCommandTimeoutMs, lazyConnect: false })
        : null;
      if (throttleRedis) {
        throttleRedis.on('error', () => { /* the throttle falls back to memory; the view logs Redis outages */ });
        stoppers.push({ name: 'throttle redis', stop: async () => { throttleRedis.disconnect(); } });
      }
      const app = await buildHttpApp({
        commands: rt.commands,
        sessions,
        reads: sqlReadModels(orm),
        lastMessages: view as LastMessagesView,
        readiness,
        metrics: { collectDefault: true, projectionLag: projectionLagFeed(status) },
        rateLimitRedis: throttleRedis,
        messageCounts: (q) => messageCountsPerDay(orm, q),
        auditExport: (filter, format) => exportActivity(rt.store, filter, format),
        config: httpConfigFrom(config),
        web: { wsUrl: sameHostWsUrl({ port: ws.port, path: ws.path }) },
        logger,
      });
      // Registered last, so it stops first: no new requests, in-flight ones finish.
      const address = await app.listen({ host: config.http.host, port: config.http.port });
      stoppers.push({ name: 'http', stop: () => app.close() });
      url = address.replace('[::1]', 'localhost');
    }
    return { logger, url, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
