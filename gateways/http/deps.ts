/**
 * Everything the HTTP app needs, built by the composition root. The same shape serves the
 * PostgreSQL + Redis + RabbitMQ deployment and the embedded default (SQLite files, in-process view).
 */
import type { Redis } from 'ioredis';
import type { CommandDeps } from '../../commands/deps.js';
import type { LastMessagesView } from '../../projections/ports/last-messages.js';
import type { Logger } from 'pino';
import type { Session, SessionStore } from '../ports/sessions.js';
import type { HttpConfig } from './config.js';
import type { MetricsOptions } from './metrics.js';
import type { HttpReadModels, MessageCountsReader } from './read-port.js';
import type { WebOptions } from '../web/plugin.js';
import type { AuditFilter } from '../../projections/audit/export.js';
import type { EraseAccount } from '../service/account-erasure.js';
import type { ReplicaReads } from './replica-reads.js';

/** Resolves when the dependency is usable; rejects (with a short reason) when it is not. */
export type ReadinessCheck = () => Promise<void>;

/**
 * A check on something the instance can serve without (a cache with a fallback): while it fails,
 * /readyz answers 200 `degraded` rather than 503, so a load balancer keeps sending traffic.
 */
export interface OptionalReadinessCheck {
  check: ReadinessCheck;
  required: false;
}

export interface HttpDeps {
  commands: CommandDeps;
  sessions: SessionStore;
  reads: HttpReadModels;
  /** History from a streaming replica with read-your-writes (DATABASE_READ_URL); absent: the primary only. */
  replicaReads?: ReplicaReads | null;
  /** The last-100-messages cache; null when none is configured (every history page then comes from SQL). */
  lastMessages: LastMessagesView | null;
  /**
   * Named checks behind GET /readyz (event store, PostgreSQL, RabbitMQ, Redis, projections …): the composition
   * decides. A plain check is required (its failure is 503); an OptionalReadinessCheck only degrades.
   */
  readiness: Record<string, ReadinessCheck | OptionalReadinessCheck>;
  /** Metrics registry and the projection-lag feed behind GET /metrics. */
  metrics?: MetricsOptions;
  /**
   * Redis for the login-throttle counters, shared by every API process; null keeps them in memory.
   * Configure it to fail fast (enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout).
   */
  rateLimitRedis: Redis | null;
  config?: Partial<HttpConfig>;
  logger: Logger;
  /** GET /api/stats/messages-per-day; absent: not registered. */
  messageCounts?: MessageCountsReader;
  /** Streaming activity export straight from the event log (GET /api/activity/export, auditors). */
  auditExport?: (filter: AuditFilter, format: 'csv' | 'jsonl') => AsyncIterable<string>;
  /** The web client (gateways/web/): pages and assets on the API's origin. Omit for an API-only process. */
  web?: WebOptions;
  /** DELETE /api/me: erases the caller's account (gateways/service/account-erasure.ts); absent: not registered. */
  eraseAccount?: EraseAccount;
  /** Called after a logout revoked a session: the WebSocket gateway closes that session's sockets. */
  onLogout?: (session: Session) => void;
}
