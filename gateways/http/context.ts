import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { HttpConfig } from './config.js';
import type { HttpDeps } from './deps.js';
import type { HttpMetrics } from './metrics.js';
import type { Throttle } from './plugins/throttle.js';

/** The app as routes see it: TypeBox schemas type each request. */
export type HttpApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

/** What every route module receives. */
export interface RouteContext {
  deps: HttpDeps;
  config: HttpConfig;
  metrics: HttpMetrics;
  throttle: { login: Throttle; register: Throttle };
}
