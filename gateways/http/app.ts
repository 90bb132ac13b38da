/**
 * The HTTP API app factory. It only assembles: the composition root builds HttpDeps (stores, read
 * models, cache, checks) for the PostgreSQL + Redis + RabbitMQ deployment or the embedded default,
 * and decides when to listen and close. Closing the app does not close the deps it was given.
 */
import { randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { BODY_LIMIT_BYTES, httpConfig } from './config.js';
import type { RouteContext, RoutePlugin } from './context.js';
import type { HttpDeps } from './deps.js';
import { createHttpMetrics } from './metrics.js';
import { authPlugin } from './plugins/auth.js';
import { csrfPlugin } from './plugins/csrf.js';
import { answerFrameworkError, answerClientError, installErrorHandling } from './plugins/errors.js';
import { strictIntegers } from './strict-integers.js';
import { installJsonBody } from './plugins/json-body.js';
import { limitConnections } from './connection-limits.js';
import { installStorableInput } from './plugins/storable-input.js';
import { throttlePlugin } from './plugins/throttle.js';
import { writeLimitPlugin } from './plugins/write-limit.js';
import { accountRoutes } from './routes/accounts.js';
import { activityRoutes } from './routes/activity.js';
import { chatRoutes } from './routes/chats.js';
import { errorRoutes } from './routes/errors.js';
import { messageRoutes } from './routes/messages.js';
import { messageChangeRoutes } from './routes/message.js';
import { opsRoutes } from './routes/ops.js';
import { statsRoutes } from './routes/stats.js';
import { userRoutes } from './routes/users.js';
import { isApiPath, routedPath } from './routed-path.js';
import { ErrorSchema } from './schemas.js';
import { DOCS_CSP, HELMET_OPTIONS } from './security-headers.js';

import { webPlugin } from '../web/plugin.js';

export type { HttpDeps } from './deps.js';

export async function buildHttpApp(deps: HttpDeps): Promise<FastifyInstance> {
  const config = httpConfig(deps.config);
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: config.trustProxy,
    // Request ids are generated, never taken from a client header: they key our logs.
    genReqId: () => randomUUID(),
    routerOptions: { maxParamLength: 200 },
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
    // Checked every second (Node's default is 30 s), so a half-sent request is answered 408 on time.
    requestTimeout: config.requestTimeoutMs,
    http: { headersTimeout: config.headersTimeoutMs, connectionsCheckingInterval: 1_000 },
  }).withTypeProvider<TypeBoxTypeProvider>();
  // An Expect other than 100-continue: Node would answer a bare 417 itself, without our error body or
  // headers. RFC 9110 lets a server ignore an expectation it does not know, so it is served as usual.
  app.server.on('checkExpectation', (req, res) => app.server.emit('request', req, res));
  // Expect: 100-continue asks before the body is sent: a body the limit refuses is not invited (no
  // 100), so the client gets the 413 without sending it first.
  app.server.on('checkContinue', (req, res) => {
    if (!(Number(req.headers['content-length']) > BODY_LIMIT_BYTES)) res.writeContinue();
    app.server.emit('request', req, res);
  });
  limitConnections(app.server, { maxConnections: config.maxConnections, perAddress: config.trustProxy === false ? config.maxConnectionsPerAddress : 0 });

  // TypeBox checks the body strictly (a number is not a string); querystring and params are converted first.
  app.setValidatorCompiler(strictIntegers(TypeBoxValidatorCompiler));
  // JSON only: a text/plain body is one a cross-site form can send without a preflight.
  app.removeContentTypeParser('text/plain');
  installJsonBody(app);
  app.addSchema(ErrorSchema);

  installErrorHandling(app);
  installStorableInput(app);
  const metrics = createHttpMetrics(deps.metrics);
  app.addHook('onResponse', async (request, reply) => {
    metrics.observeRequest({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: reply.statusCode }, reply.elapsedTime / 1000);
  });

  // API answers carry tokens, CSRF tokens and personal data, errors included: no cache may keep them.
  app.addHook('onSend', async (request, reply) => {
    if (isApiPath(request.routeOptions.url ?? routedPath(request.url))) void reply.header('cache-control', 'no-store');
  });

  await app.register(helmet, HELMET_OPTIONS);
  await app.register(cookie);
  if (config.docs) {
    await app.register(swagger, {
      openapi: {
        info: { title: 'Chat API', version: '1', description: 'Errors are { error: { code, message } }; see docs/errors.md for every code.' },
        components: {
          securitySchemes: {
            cookieAuth: { type: 'apiKey', in: 'cookie', name: config.sessionCookie },
            bearerAuth: { type: 'http', scheme: 'bearer' },
          },
        },
        security: [{ cookieAuth: [] }, { bearerAuth: [] }],
      },
      // Shared schemas keep their $id as their name (ErrorBody), not def-0: client generators name types after it.
      refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`) },
    });
    await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: DOCS_CSP });
  }

  await app.register(authPlugin, { sessions: deps.sessions, config });
  await app.register(csrfPlugin, { config });
  await app.register(throttlePlugin, { config, redis: deps.rateLimitRedis, logger: deps.logger });
  await app.register(writeLimitPlugin, { config });

  if (config.sessionPurgeIntervalMs > 0) {
    // Expired sessions are refused when presented anyway; this only keeps the table from growing.
    const timer = setInterval(() => {
      deps.sessions.purgeExpired().catch((err: unknown) => deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'session purge failed'));
    }, config.sessionPurgeIntervalMs);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  }

  const ctx: RouteContext = { deps, config, metrics, throttle: app.throttle };
  // The order is the order of the paths in the OpenAPI document (docs/http.md).
  const routes: RoutePlugin[] = [accountRoutes, userRoutes, chatRoutes, messageRoutes, messageChangeRoutes, activityRoutes, errorRoutes, statsRoutes, opsRoutes];
  for (const plugin of routes) await app.register(plugin, ctx);
  if (deps.web) await app.register(webPlugin, deps.web);

  await app.ready();
  return app as unknown as FastifyInstance;
}
