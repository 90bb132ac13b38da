// One bad request must not blind the error log: `GET /api/users?prefix=a%00` (its failure, if it
// fails, embeds a NUL and the statement), then an ordinary unexpected error; GET /api/errors lists
// what the app logged at error level, written the way the error-log destination writes it.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { register as registerCommand } from '../../commands/register.js';
import { createErrorLogStream } from '../../infra/error-log/destination.js';
import { json, loginBearer, newUser, startHarness } from '../http/harness.js';

t.test('a NUL in a query string, then an ordinary error: the error log keeps working', async (t) => {
  const h = await startHarness('postgres', {
    wrapReads: (reads) => ({
      ...reads,
      // A NUL that gets past the edge by some other road reaches the real query.
      searchUsers: (q) => (q.prefix === 'ordinary-failure' ? Promise.reject(new Error('ordinary failure'))
        : q.prefix === 'nul-past-the-edge' ? reads.searchUsers({ ...q, prefix: 'a\u0000' }) : reads.searchUsers(q)),
    }),
  });
  t.teardown(() => h.close());
  const errorLog = createErrorLogStream({ insert: h.logErrors }, { flushMs: 60_000 });
  let fed = 0;
  // The service feeds error-level lines to the destination through pino.multistream; here, from the kept lines.
  const feed = async () => {
    for (; fed < h.logs.length; fed++) if ((JSON.parse(h.logs[fed]!) as { level: number }).level >= 50) errorLog.write(h.logs[fed]!);
    await errorLog.flush();
  };

  const user = await newUser(h.app, 'nul');
  const auditorName = `aud${randomUUID().slice(0, 6)}`;
  t.ok((await registerCommand(h.commands, { username: auditorName, password: 'password123', role: 'auditor' })).ok);
  const auditor = await loginBearer(h.app, auditorName);

  const nul = await user.req({ method: 'GET', url: '/api/users?prefix=a%00' });
  t.ok([400, 500, 503].includes(nul.statusCode), `answered ${nul.statusCode}`);
  await feed();
  const past = await user.req({ method: 'GET', url: '/api/users?prefix=nul-past-the-edge' });
  t.ok(past.statusCode >= 500, `the database refused the NUL: ${past.statusCode}`);
  await feed();
  const ordinary = await user.req({ method: 'GET', url: '/api/users?prefix=ordinary-failure' });
  t.equal(ordinary.statusCode, 500);
  await feed();

  const listed = json<{ errors: Array<{ message: string; context: Record<string, unknown> | null }> }>(
    await auditor.req({ method: 'GET', url: '/api/errors?limit=50' }));
  const messages = listed.errors.map((e) => e.message);
  t.equal(messages[0], 'unexpected error: ordinary failure', 'the ordinary error after the NUL requests is listed');
  // The edge may refuse the NUL (400); whatever reached the database is stored, cleaned, without the statement.
  const nulErrors = messages.slice(1);
  t.equal(nulErrors.length, (nul.statusCode >= 500 ? 1 : 0) + 1, 'the NUL requests\' errors are listed too');
  for (const m of nulErrors) {
    t.notOk(m.includes('\u0000'), `without the NUL: ${m}`);
    t.match(m, /\[SQL not logged; code [0-9A-Z]{5}\]/, 'and without the statement');
    t.notOk(m.includes('username'), 'no part of it');
  }
  t.equal(errorLog.dropped(), 0);
  t.notOk(JSON.stringify(listed).includes('\\u0000'));
});
