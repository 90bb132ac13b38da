/**
 * Operations: liveness (the process answers), readiness (every injected check passes within its
 * budget: the composition root decides what is checked, and which failures only degrade the
 * instance) and Prometheus metrics.
 */
import { Type } from 'typebox';
import type { RoutePlugin } from '../context.js';
import type { ReadinessCheck } from '../deps.js';

interface CheckResult {
  ok: boolean;
  ms: number;
  error?: string;
}

async function runCheck(check: ReadinessCheck, timeoutMs: number): Promise<CheckResult> {
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

const CheckSchema = Type.Object({ ok: Type.Boolean(), required: Type.Boolean(), ms: Type.Integer(), error: Type.Optional(Type.String()) });
const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('degraded'), Type.Literal('not_ready')]),
  checks: Type.Record(Type.String(), CheckSchema),
});

export const opsRoutes: RoutePlugin = async (app, ctx) => {
  const { deps, config, metrics } = ctx;

  app.get('/healthz', {
    schema: { tags: ['operations'], security: [], summary: 'Liveness: the process is up', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
  }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    schema: {
      tags: ['operations'], security: [],
      summary: 'Readiness: required dependencies answer and projections are not stalled (200 ready or degraded, else 503)',
      response: { 200: Readiness, 503: Readiness },
    },
  }, async (_request, reply) => {
    const entries = Object.entries(deps.readiness).map(([name, c]) => ({ name, ...(typeof c === 'function' ? { check: c, required: true } : c) }));
    const results = await Promise.all(entries.map(async (e) => ({ ...(await runCheck(e.check, config.readinessTimeoutMs)), required: e.required })));
    const checks = Object.fromEntries(entries.map((e, i) => [e.name, results[i]!]));
    const status = results.some((r) => !r.ok && r.required) ? 'not_ready' : results.some((r) => !r.ok) ? 'degraded' : 'ready';
    return reply.status(status === 'not_ready' ? 503 : 200).send({ status, checks });
  });

  app.get('/metrics', {
    schema: { tags: ['operations'], security: [], summary: 'Prometheus metrics', hide: false },
  }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.header('content-type', metrics.registry.contentType).send(text);
  });
};
