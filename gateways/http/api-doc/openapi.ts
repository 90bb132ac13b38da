/**
 * The OpenAPI document the service serves at /docs/json, without a database: the app is built with
 * every optional route the service registers and with deps that no handler gets to use (building
 * the document calls none of them).
 */
import { buildHttpApp, type HttpDeps } from '../app.js';
import pino from 'pino';
import type { OpenApiDocument } from './markdown.js';

/** A dependency whose every method throws: only registration may touch it, and registration calls none. */
function unusable<T extends object>(name: string): T {
  return new Proxy({} as T, {
    get: (_target, key) => (key === 'then' ? undefined : () => { throw new Error(`${name}.${String(key)}: this app only serves its OpenAPI document`); }),
  });
}

export async function openApiDocument(): Promise<OpenApiDocument> {
  const deps: HttpDeps = {
    commands: unusable('commands'),
    sessions: unusable('sessions'),
    reads: unusable('reads'),
    lastMessages: null,
    readiness: {},
    rateLimitRedis: null,
    // The routes the service adds when it has them (gateways/service/start-service.ts).
    messageCounts: async () => [],
    auditExport: async function* () {},
    eraseAccount: async () => { throw new Error('eraseAccount: this app only serves its OpenAPI document'); },
    config: { docs: true, sessionPurgeIntervalMs: 0 },
    // Silent: nothing is logged, so the service's redacting logger (infra/logger.ts) is not needed.
    logger: pino({ level: 'silent', name: 'api-doc' }),
  };
  const app = await buildHttpApp(deps);
  try {
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    if (res.statusCode !== 200) throw new Error(`/docs/json answered ${res.statusCode}`);
    return res.json<OpenApiDocument>();
  } finally {
    await app.close();
  }
}
