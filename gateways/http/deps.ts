/**
 * Everything the HTTP app needs, built by the composition root. The same shape serves the
 * PostgreSQL + Redis + RabbitMQ deployment and the embedded default (SQLite files, in-process view).
 */
import type { Redis } from 'ioredis';
import type { CommandDeps } from '../../commands/deps.js';
import type { LastMessagesView } from '../../infra/last-messages/port.js';
import type { Logger } from '../../infra/logger.js';
import type { Session, SessionStore } from '../../infra/sessions/port.js';
import type { HttpConfig } from './config.js';
import type { MetricsOptions } from './metrics.js';
import type { HttpReadModels } from './read-port.js';

/** Resolves when the dependency is usable; rejects (with a short reason) when it is not. */
export type ReadinessCheck = () => Promise<void>;

export interface HttpDeps {
  commands: CommandDeps;
  sessions: SessionStore;
  reads: HttpReadModels;
  /** The last-100-messages cache; null when none is configured (every history page then comes from SQL). */
  lastMessages: LastMessagesView | null;
  /** Named checks behind GET /readyz (event store, PostgreSQL, RabbitMQ, Redis, projections …): the composition decides. */
  readiness: Record<string, ReadinessCheck>;
  /** Metrics registry and the projection-lag feed behind GET /metrics. */
  metrics?: MetricsOptions;
  /**
   * Redis for the login-throttle counters, shared by every API process; null keeps them in memory.
   * Configure it to fail fast (enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout).
   */
  rateLimitRedis: Redis | null;
  config?: Partial<HttpConfig>;
  logger: Logger;
  /** Called after a logout revoked a session: the WebSocket gateway closes that session's sockets. */
  onLogout?: (session: Session) => void;
}
