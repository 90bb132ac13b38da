// GET /api/stats/messages-per-day on a minimal fastify app with the real auth and error plugins
// and the real query over projected read models: a user sees their own counts, an auditor anyone's.
import cookie from '@fastify/cookie';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify from 'fastify';
import t from 'tap';
import { httpConfig } from '../../gateways/http/config.js';
import { authPlugin } from '../../gateways/http/plugins/auth.js';
import { installErrorHandling } from '../../gateways/http/plugins/errors.js';
import { statsRoutes } from '../../gateways/http/routes/stats.js';
import { ErrorSchema } from '../../gateways/http/schemas.js';
import { messageCountsPerDay } from '../../projections/messages-per-user-per-day.js';
import { SqliteSessionStore } from '../../infra/sessions/sqlite.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { kitRecords } from '../support/projection-kit.js';
import { m, messageSent } from '../projections/kit-events.js';
import { silentLogger, sqliteReadModels } from '../projections/support.js';

t.test('messages per day: own counts for users, anyone\'s for auditors', async (t) => {
  const rm = await sqliteReadModels();
  const sessions = SqliteSessionStore.open({ file: ':memory:' });
  const app = Fastify().withTypeProvider<TypeBoxTypeProvider>();
  t.teardown(async () => {
    await app.close();
    await sessions.close();
    await rm.close();
  });
  const send = (n: number, senderId: string, sentAt: string) => messageSent({ chatId: 'alice:bob', senderId, body: 'x', sentAt, messageId: m(n) });
  const records = kitRecords([
    send(1, 'alice', '2026-01-01T10:00:00Z'), send(2, 'alice', '2026-01-01T11:00:00Z'), send(3, 'alice', '2026-01-03T10:00:00Z'), send(4, 'bob', '2026-01-02T10:00:00Z'),
  ]);
  t.same((await createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger }).applyBatch(records)).failed, []);

  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  app.addSchema(ErrorSchema);
  installErrorHandling(app);
  await app.register(cookie);
  await app.register(authPlugin, { sessions, config: httpConfig() });
  await app.register(statsRoutes, { deps: { messageCounts: (q) => messageCountsPerDay(rm.orm.db, q) } });
  await app.ready();

  const alice = (await sessions.create({ userId: 'alice', role: 'user' })).token;
  const dave = (await sessions.create({ userId: 'dave', role: 'auditor' })).token;
  const get = (token: string | null, query: string) =>
    app.inject({ method: 'GET', url: `/api/stats/messages-per-day${query}`, headers: token ? { authorization: `Bearer ${token}` } : {} });

  let res = await get(alice, '');
  t.equal(res.statusCode, 200);
  t.same(res.json(), { userId: 'alice', days: [{ day: '2026-01-01', count: 2 }, { day: '2026-01-03', count: 1 }] }, 'a user, their own days');
  res = await get(alice, '?userId=alice&from=2026-01-02&to=2026-01-03');
  t.same(res.json(), { userId: 'alice', days: [{ day: '2026-01-03', count: 1 }] }, 'inclusive range');
  res = await get(alice, '?userId=bob');
  t.equal(res.statusCode, 403);
  t.equal(res.json().error.code, 'FORBIDDEN', 'not someone else\'s');
  res = await get(dave, '?userId=bob');
  t.same([res.statusCode, res.json()], [200, { userId: 'bob', days: [{ day: '2026-01-02', count: 1 }] }], 'an auditor, anyone\'s');
  res = await get(dave, '');
  t.same(res.json(), { userId: 'dave', days: [] }, 'an auditor without userId: their own (none)');

  res = await get(null, '');
  t.equal(res.statusCode, 401, 'a session is required');
  for (const q of ['?from=2026-02-30', '?from=yesterday', '?from=2026-01-05&to=2026-01-01', '?limit=3']) {
    res = await get(alice, q);
    t.same([res.statusCode, res.json().error.code], [400, 'VALIDATION_FAILED'], `refused: ${q}`);
  }
});
