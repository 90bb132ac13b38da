import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync, FastifyPluginOptions, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { HttpConfig } from './config.js';
import type { HttpDeps } from './deps.js';
import type { HttpMetrics } from './metrics.js';
import type { Throttles } from './plugins/throttle.js';

/** The app as routes see it: TypeBox schemas type each request. */
export type HttpApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

/** What app.ts passes to every route module. */
export interface RouteContext {
  deps: HttpDeps;
  config: HttpConfig;
  metrics: HttpMetrics;
  throttle: Throttles;
}

/**
 * The one shape of a route module (routes/*.ts, each named after the URLs it serves): a fastify plugin
 * that app.ts registers with `app.register(routes, ctx)`. A module may ask for less than the whole
 * RouteContext (a Pick of it), which lets a test register it with only what it reads.
 */
export type RoutePlugin<Options extends FastifyPluginOptions = RouteContext> = FastifyPluginAsync<Options, RawServerDefault, TypeBoxTypeProvider>;
