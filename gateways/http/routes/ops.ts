/**
 * Operations: liveness (the process answers), readiness (every injected check passes within its
 * budget: the composition root decides what is checked) and Prometheus metrics.
 */
import { Type } from 'typebox';
import type { HttpApp, RouteContext } from '../context.js';

interface CheckResult {
  ok: boolean;
  ms: number;
  error?: string;
}

async function runCheck(check: () => Promise<void>, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs); }),
    ]);
    return { ok: true, ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { ok: false, ms: Math.round(performance.now() - started), error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

const CheckSchema = Type.Object({ ok: Type.Boolean(), ms: Type.Integer(), error: Type.Optional(Type.String()) });
const Readiness = Type.Object({ status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]), checks: Type.Record(Type.String(), CheckSchema) });

export function opsRoutes(app: HttpApp, ctx: RouteContext): void {
  const { deps, config, metrics } = ctx;

  app.get('/healthz', {
    schema: { tags: ['operations'], security: [], summary: 'Liveness: the process is up', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
  }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    schema: { tags: ['operations'], security: [], summary: 'Readiness: every configured dependency answers and projections are not stalled', response: { 200: Readiness, 503: Readiness } },
  }, async (_request, reply) => {
    const names = Object.keys(deps.readiness);
    const results = await Promise.all(names.map((n) => runCheck(deps.readiness[n]!, config.readinessTimeoutMs)));
    const checks = Object.fromEntries(names.map((n, i) => [n, results[i]!]));
    const ready = results.every((r) => r.ok);
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
  });

  app.get('/metrics', {
    schema: { tags: ['operations'], security: [], summary: 'Prometheus metrics', hide: false },
  }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.header('content-type', metrics.registry.contentType).send(text);
  });
}
