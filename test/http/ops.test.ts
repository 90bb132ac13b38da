// Operations endpoints: liveness, readiness from injected checks, Prometheus metrics, OpenAPI docs.
import t from 'tap';
import { projectionLagFeed, projectionsReadiness } from '../../gateways/http/ops-wiring.js';
import type { ProjectionStatus } from '../../projections/runtime/status.js';
import { json, newUser, startHarness } from './harness.js';

t.test('healthz, readyz, metrics and docs', async (t) => {
  let redisUp = true;
  const h = await startHarness('embedded', {
    config: { readinessTimeoutMs: 300 },
    readiness: {
      eventStore: async () => { await Promise.resolve(); },
      redis: async () => { if (!redisUp) throw new Error('connection refused'); },
    },
    metrics: { projectionLag: async () => [{ projection: 'sql', events: 7, seconds: 1.5 }, { projection: 'last-messages', events: 0, seconds: 0 }] },
  });
  t.teardown(() => h.close());

  const health = await h.app.inject({ method: 'GET', url: '/healthz' });
  t.same([health.statusCode, json(health)], [200, { status: 'ok' }]);

  const ready = await h.app.inject({ method: 'GET', url: '/readyz' });
  t.equal(ready.statusCode, 200);
  t.match(json(ready), { status: 'ready', checks: { eventStore: { ok: true }, redis: { ok: true } } });
  redisUp = false;
  const down = await h.app.inject({ method: 'GET', url: '/readyz' });
  t.equal(down.statusCode, 503);
  t.match(json(down), { status: 'not_ready', checks: { eventStore: { ok: true }, redis: { ok: false, error: 'connection refused' } } });

  const user = await newUser(h.app, 'ops');
  await h.app.inject({ method: 'POST', url: '/api/login', payload: { username: user.userId, password: 'wrong-one-1' } });
  const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
  t.equal(metrics.statusCode, 200);
  t.match(metrics.headers['content-type'], /text\/plain/);
  const text = metrics.body;
  t.match(text, /http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/readyz",status="200"\}/, 'latency histogram by route');
  t.match(text, /commands_total\{command="login",outcome="ok"\} 1/, 'command counter: success');
  t.match(text, /commands_total\{command="login",outcome="INVALID_CREDENTIALS"\} 1/, 'command counter: domain error');
  t.match(text, /commands_total\{command="register",outcome="ok"\} 1/);
  t.match(text, /projection_lag_events\{projection="sql"\} 7/, 'lag in events from the injected feed');
  t.match(text, /projection_lag_seconds\{projection="sql"\} 1.5/, 'lag in seconds from the same feed');

  const spec = await h.app.inject({ method: 'GET', url: '/docs/json' });
  t.equal(spec.statusCode, 200);
  const paths = Object.keys(json<{ paths: Record<string, unknown> }>(spec).paths).sort();
  t.same(paths, [
    '/api/activity', '/api/activity/export', '/api/chats', '/api/chats/{chatId}/messages', '/api/chats/{chatId}/messages/{messageId}', '/api/chats/{chatId}/open', '/api/chats/{chatId}/read', '/api/errors', '/api/login', '/api/logout',
    '/api/me', '/api/register', '/api/users', '/api/ws-ticket', '/healthz', '/metrics', '/readyz',
  ]);
  const ui = await h.app.inject({ method: 'GET', url: '/docs/' });
  t.equal(ui.statusCode, 200, 'Swagger UI is served');
  t.ok(ui.headers['content-security-policy'], 'with a CSP (helmet)');
  t.equal(health.headers['x-content-type-options'], 'nosniff', 'helmet headers on every response');
});

t.test('a hanging readiness check fails within its budget', async (t) => {
  const h = await startHarness('embedded', { config: { readinessTimeoutMs: 200 }, readiness: { rabbitmq: () => new Promise<void>(() => {}) } });
  t.teardown(() => h.close());
  const started = Date.now();
  const res = await h.app.inject({ method: 'GET', url: '/readyz' });
  t.equal(res.statusCode, 503);
  t.match(json(res), { checks: { rabbitmq: { ok: false, error: /no answer within 200 ms/ } } });
  t.ok(Date.now() - started < 3_000, 'bounded by the budget, not waiting for the hung check');
});

t.test('projection status feeds the lag gauges and the readiness check', async (t) => {
  const base: ProjectionStatus = {
    projection: 'users', version: 1, storedVersion: 1, needsRebuild: false, checkpoint: '10', head: '12', lagEvents: 2, lagEventsCapped: false,
    lagSeconds: 0.5, deadLetters: 0, unknownEvents: 0, stoppedAt: null, checkpointUpdatedAt: null, verdict: 'lagging',
  };
  let statuses: ProjectionStatus[] = [base, { ...base, projection: 'chats', lagEvents: 0, lagSeconds: 0, verdict: 'ok' }];
  const feed = projectionLagFeed(async () => statuses);
  t.same(await feed(), [{ projection: 'users', events: 2, seconds: 0.5 }, { projection: 'chats', events: 0, seconds: 0 }]);
  const ready = projectionsReadiness(async () => statuses);
  await t.resolves(ready(), 'lagging is still ready');
  statuses = [{ ...base, verdict: 'stalled', lagEvents: 40 }];
  await t.rejects(ready(), { message: 'users stalled 40 events behind' });
  statuses = [{ ...base, verdict: 'ok', needsRebuild: true }];
  await t.rejects(ready(), { message: 'users needs a rebuild' });
});
