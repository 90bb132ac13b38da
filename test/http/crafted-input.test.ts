// Every HTTP route the OpenAPI document lists gets crafted path, query and body values (U+0000,
// unpaired surrogates, numbers past every column, times outside PostgreSQL's range, forged cursors,
// deep nesting, huge arrays), sent to PostgreSQL and to the embedded store side by side. Never a 5xx;
// every refusal has the { error: { code } } shape with a registered code; both stores give the same
// status and code. Afterwards each still serves an ordinary request.
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import t from 'tap';
import { register as registerCommand } from '../../commands/register.js';
import { API_ERRORS } from '../../gateways/http/errors.js';
import { hostileCursor, hostileJsonText, hostileNumber, hostileText, hostileTime, hostileUrlComponent, pctEncode } from '../support/hostile-input.js';
import { json, loginBearer, startHarness, type Client, type Harness, type Kind } from './harness.js';

const RUNS = Number(process.env['CRAFTED_INPUT_RUNS'] ?? 500);

interface Route {
  method: 'GET' | 'POST';
  path: string;
  pathParams: string[];
  query: string[];
  body: string[] | null;
  public: boolean;
}

/** Values that pass the schema, so that hostile ones elsewhere in the same request reach deeper code. */
const ordinary: Record<string, fc.Arbitrary<string>> = {
  chatId: fc.constantFrom('alice:bob', 'alice:bob', 'alice:bob', 'alice:carol', 'bob:carol', 'alice:zed'),
  username: fc.constantFrom('alice', 'bob', 'Bob', 'zed', 'newbie_1'),
  password: fc.constantFrom('password123', 'wrong-password'),
  body: fc.constantFrom('hello', '  hi  ', 'pair \ud83d\ude00'),
  clientMessageId: fc.constantFrom('c-1', 'c-2', 'c-3'),
  limit: fc.constantFrom('1', '5', '100'),
  before: fc.constantFrom('1', '2', '50'),
  prefix: fc.constantFrom('a', 'al', 'BO', ''),
  userId: fc.constantFrom('alice', 'bob', 'audrey'),
  action: fc.constantFrom('login', 'send_message'),
  format: fc.constantFrom('csv', 'jsonl'),
  process: fc.constantFrom('chat-api', 'http-test'),
  minLevel: fc.constantFrom('50', '60'),
  from: fc.constantFrom('2020-01-01T00:00:00Z', '2020-01-01'),
  to: fc.constantFrom('2099-01-01T00:00:00Z', '2099-01-01'),
  cursor: fc.constant(Buffer.from(JSON.stringify([Date.now(), '1'])).toString('base64url')),
  bearer: fc.constantFrom('true', 'false'),
};

/**
 * The ordinary values of a parameter or field, by name. Own keys only: random names include
 * "constructor" and "toString", which a plain lookup finds on Object.prototype.
 */
const ord = (name: string): fc.Arbitrary<string> => (Object.hasOwn(ordinary, name) ? ordinary[name]! : fc.constant('x'));

/** A hostile value for a query or path parameter, already URL-encoded. */
const hostileParam = (name: string): fc.Arbitrary<string> => fc.oneof(
  { weight: 3, arbitrary: hostileUrlComponent },
  { weight: 1, arbitrary: hostileNumber.map((n) => pctEncode(String(n))) },
  { weight: name === 'from' || name === 'to' ? 4 : 1, arbitrary: hostileTime.map(pctEncode) },
  { weight: name === 'cursor' ? 4 : 1, arbitrary: hostileCursor.map(pctEncode) },
);

const param = (name: string): fc.Arbitrary<string> => fc.oneof(
  { weight: 1, arbitrary: ord(name).map(pctEncode) },
  { weight: 2, arbitrary: hostileParam(name) },
);

/** A body field's JSON text. */
const field = (name: string): fc.Arbitrary<string> => fc.oneof(
  { weight: 1, arbitrary: ord(name).map((v) => (name === 'bearer' ? v : JSON.stringify(v))) },
  { weight: 2, arbitrary: hostileJsonText },
);

type Auth = 'alice' | 'auditor' | 'none' | 'fresh';

interface Crafted {
  route: Route;
  url: string;
  payload: string | undefined;
  contentType: string | undefined;
  auth: Auth;
}

interface Parts {
  path: string[];
  /** name=value, encoded. */
  query: string[];
  body: { payload: string | undefined; contentType: string | undefined };
  auth: Auth;
}

/** Anything anywhere: random parameter names and values, bodies of any shape and type. */
function chaos(route: Route): fc.Arbitrary<Parts> {
  const query = fc.array(fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...(route.query.length ? route.query : ['unknown'])) },
    { weight: 1, arbitrary: hostileUrlComponent },
  ), { maxLength: 4 }).chain((names) => fc.tuple(...names.map((n) => param(n).map((v) => `${n}=${v}`))));
  const body: fc.Arbitrary<Parts['body']> = route.body === null
    ? fc.oneof(fc.constant({ payload: undefined, contentType: undefined }), hostileJsonText.map((p) => ({ payload: p, contentType: 'application/json' })))
    : fc.oneof(
      { weight: 6, arbitrary: fc.tuple(fc.subarray(route.body), fc.boolean()).chain(([names, extra]) =>
        fc.tuple(...names.map((n) => field(n).map((v) => `${JSON.stringify(n)}:${v}`)), ...(extra ? [hostileText.map((k) => `${JSON.stringify(k)}:1`)] : [])))
        .map((members) => ({ payload: `{${members.join(',')}}`, contentType: 'application/json' })) },
      { weight: 1, arbitrary: hostileJsonText.map((p) => ({ payload: p, contentType: 'application/json' })) },
      { weight: 1, arbitrary: fc.tuple(fc.string({ unit: 'binary', maxLength: 100 }), fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1'))
        .map(([payload, contentType]) => ({ payload, contentType })) },
    );
  const auth: fc.Arbitrary<Auth> = route.public ? fc.constant('none') : fc.constantFrom<Auth>('alice', 'alice', 'auditor', 'none');
  return fc.record({ path: fc.tuple(...route.pathParams.map((p) => param(p))), query, body, auth });
}

/**
 * One hostile value in an otherwise ordinary request (every body field present, a live session),
 * so that it gets past the schema and the session check to the code behind them: the domain's rules,
 * the cursor and time checks, the stores.
 */
function oneFault(route: Route): fc.Arbitrary<Parts> {
  type Slot = { in: 'path' | 'query' | 'body'; name: string };
  const slots: Slot[] = [
    ...route.pathParams.map((name) => ({ in: 'path' as const, name })),
    ...route.query.map((name) => ({ in: 'query' as const, name })),
    ...(route.body ?? []).map((name) => ({ in: 'body' as const, name })),
  ];
  if (slots.length === 0) return chaos(route);
  return fc.record({
    fault: fc.constantFrom(...slots),
    path: fc.tuple(...route.pathParams.map((p) => ord(p).map(pctEncode))),
    query: fc.tuple(...route.query.map((q) => fc.option(ord(q).map((v) => `${q}=${pctEncode(v)}`), { nil: undefined }))),
    body: fc.tuple(...(route.body ?? []).map((f) => ord(f).map((v) => (f === 'bearer' ? v : JSON.stringify(v))))),
    hostile: fc.record({ param: fc.constant(null), text: hostileText, json: hostileJsonText }),
    auth: route.public ? fc.constant<Auth>('none') : fc.constantFrom<Auth>('alice', 'alice', 'auditor'),
  }).chain((r) => (r.fault.in === 'body' ? fc.constant(null) : hostileParam(r.fault.name)).map((hostileParamValue) => {
    const path = [...r.path];
    const query = route.query.map((q, i) => r.query[i]).filter((v): v is string => v !== undefined);
    const members = (route.body ?? []).map((f, i) => [f, r.body[i]!] as [string, string]);
    if (r.fault.in === 'path') path[route.pathParams.indexOf(r.fault.name)] = hostileParamValue!;
    if (r.fault.in === 'query') {
      const others = query.filter((kv) => !kv.startsWith(`${r.fault.name}=`));
      query.splice(0, query.length, ...others, `${r.fault.name}=${hostileParamValue!}`);
    }
    if (r.fault.in === 'body') {
      // Mostly a string (the field's type) holding the hostile text; sometimes any JSON at all.
      const value = r.hostile.text.length % 4 === 0 ? r.hostile.json : JSON.stringify(r.hostile.text);
      members.forEach((m) => { if (m[0] === r.fault.name) m[1] = value; });
    }
    const payload = route.body === null ? undefined : `{${members.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
    return { path, query, body: { payload, contentType: payload === undefined ? undefined : 'application/json' }, auth: r.auth };
  }));
}

function crafted(route: Route): fc.Arbitrary<Crafted> {
  return fc.oneof(chaos(route), oneFault(route)).map((p) => {
    let path = route.path;
    route.pathParams.forEach((name, i) => { path = path.replace(`{${name}}`, p.path[i]!); });
    // Logging out revokes the session presented: each logout gets a session of its own.
    const auth = route.path === '/api/logout' && p.auth !== 'none' ? 'fresh' : p.auth;
    return { route, url: p.query.length ? `${path}?${p.query.join('&')}` : path, payload: p.body.payload, contentType: p.body.contentType, auth };
  });
}

interface Side {
  h: Harness;
  alice: Client;
  auditor: Client;
}

async function openSide(kind: Kind): Promise<Side> {
  // No throttle: a fuzzer from one address would otherwise spend its runs on 429s.
  const h = await startHarness(kind, { messageCounts: true, config: { loginRateLimit: false } });
  for (const name of ['alice', 'bob', 'carol']) {
    const r = await registerCommand(h.commands, { username: name, password: 'password123' });
    if (!r.ok) throw new Error(`register ${name}: ${r.error.code}`);
  }
  const made = await registerCommand(h.commands, { username: 'audrey', password: 'password123', role: 'auditor' });
  if (!made.ok) throw new Error(`register audrey: ${made.error.code}`);
  const alice = await loginBearer(h.app, 'alice');
  const auditor = await loginBearer(h.app, 'audrey');
  const chat = await alice.req({ method: 'POST', url: '/api/chats', payload: { username: 'bob' } });
  if (chat.statusCode !== 201) throw new Error(`start chat: ${chat.statusCode} ${chat.body}`);
  const sent = await alice.req({ method: 'POST', url: '/api/chats/alice:bob/messages', payload: { body: 'first', clientMessageId: 'first' } });
  if (sent.statusCode !== 201) throw new Error(`send: ${sent.statusCode} ${sent.body}`);
  await h.settle();
  return { h, alice, auditor };
}

async function send(side: Side, c: Crafted): Promise<{ status: number; code: string | null; body: string }> {
  const headers: Record<string, string> = {};
  if (c.contentType !== undefined) headers['content-type'] = c.contentType;
  if (c.auth === 'alice') headers['authorization'] = `Bearer ${side.alice.token}`;
  if (c.auth === 'auditor') headers['authorization'] = `Bearer ${side.auditor.token}`;
  if (c.auth === 'fresh') headers['authorization'] = `Bearer ${(await side.h.sessions.create({ userId: 'alice', role: 'user' })).token}`;
  const opts: InjectOptions = { method: c.route.method, url: c.url, headers, ...(c.payload !== undefined ? { payload: c.payload } : {}) };
  const res = await side.h.app.inject(opts);
  let code: string | null = null;
  if (res.statusCode >= 400) {
    try {
      const parsed = res.json<{ error?: { code?: unknown } }>();
      code = typeof parsed.error?.code === 'string' ? parsed.error.code : null;
    } catch {
      code = null;
    }
  }
  return { status: res.statusCode, code, body: res.body.slice(0, 300) };
}

t.test(`${RUNS} crafted requests over every route: never 5xx, stable codes, both stores agree`, async (t) => {
  const pg = await openSide('postgres');
  t.teardown(() => pg.h.close());
  const lite = await openSide('embedded');
  t.teardown(() => lite.h.close());

  const doc = (pg.h.app as unknown as { swagger(): { paths: Record<string, Record<string, {
    parameters?: Array<{ in: string; name: string }>;
    requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> };
    security?: unknown[];
  }>> } }).swagger();
  const routes: Route[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const params = op.parameters ?? [];
      const body = op.requestBody?.content?.['application/json']?.schema?.properties;
      routes.push({
        method: method.toUpperCase() as Route['method'], path,
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
        query: params.filter((p) => p.in === 'query').map((p) => p.name),
        body: body ? Object.keys(body) : null,
        public: Array.isArray(op.security) && op.security.length === 0,
      });
    }
  }
  t.ok(routes.length >= 15, `${routes.length} routes from the OpenAPI document`);

  const cursor = (key: unknown[]): string => Buffer.from(JSON.stringify(key)).toString('base64url');
  const find = (method: string, path: string): Route => {
    const r = routes.find((x) => x.method === method && x.path === path);
    if (!r) throw new Error(`no route ${method} ${path}`);
    return r;
  };
  const example = (method: 'GET' | 'POST', path: string, url: string, payload?: unknown, auth: Auth = 'alice'): [Crafted] => [{
    route: find(method, path), url, auth,
    payload: payload === undefined ? undefined : JSON.stringify(payload), contentType: payload === undefined ? undefined : 'application/json',
  }];
  // The inputs that failed before they were refused at the edge: run first, every time.
  const regressions: Array<[[Crafted], number, string | null]> = [
    [example('POST', '/api/chats/{chatId}/messages', '/api/chats/alice:bob/messages', { body: 'a\u0000b', clientMessageId: 'nul' }), 422, 'MESSAGE_INVALID_CHARACTERS'],
    [example('POST', '/api/chats/{chatId}/messages', '/api/chats/alice:bob/messages', { body: 'a\ud800b', clientMessageId: 'lone' }), 422, 'MESSAGE_INVALID_CHARACTERS'],
    [example('POST', '/api/register', '/api/register', { username: 'nully', password: 'password\u0000' }, 'none'), 422, 'PASSWORD_INVALID_CHARACTERS'],
    [example('POST', '/api/chats', '/api/chats', { username: 'b\u0000b' }), 404, 'USER_NOT_FOUND'],
    [example('GET', '/api/users', '/api/users?prefix=a%00'), 400, 'VALIDATION_FAILED'],
    [example('GET', '/api/chats/{chatId}/messages', '/api/chats/alice:b%00/messages'), 400, 'VALIDATION_FAILED'],
    [example('POST', '/api/chats/{chatId}/open', '/api/chats/alice:b%00/open'), 400, 'VALIDATION_FAILED'],
    [example('GET', '/api/chats/{chatId}/messages', '/api/chats/alice%ED%A0%80/messages'), 400, 'BAD_REQUEST'],
    // The query parser read these as U+FFFD: another value than the one sent.
    [example('GET', '/api/users', '/api/users?prefix=%FF'), 400, 'BAD_REQUEST'],
    [example('GET', '/api/users', '/api/users?prefix=%ED%A0%80'), 400, 'BAD_REQUEST'],
    [example('GET', '/api/users', '/api/users?prefix=a&x=%C3'), 400, 'BAD_REQUEST'],
    [example('GET', '/api/users', '/api/users?prefix=%C3%A9+x'), 200, null],
    // A route that takes no body refuses one with content, as unknown properties are refused elsewhere.
    [example('POST', '/api/chats/{chatId}/open', '/api/chats/alice:bob/open', { x: 1 }), 400, 'VALIDATION_FAILED'],
    [example('POST', '/api/chats/{chatId}/open', '/api/chats/alice:bob/open', [1]), 400, 'VALIDATION_FAILED'],
    [example('POST', '/api/chats/{chatId}/open', '/api/chats/alice:bob/open', {}), 200, null],
    [example('GET', '/api/chats/{chatId}/messages', `/api/chats/${'x'.repeat(250)}/messages`), 400, 'VALIDATION_FAILED'],
    [example('GET', '/api/chats/{chatId}/messages', '/api/chats/alice:bob/messages?before=1e300'), 400, 'VALIDATION_FAILED'],
    [example('GET', '/api/chats', `/api/chats?cursor=${cursor([1e300, 'x'])}`), 400, 'VALIDATION_FAILED'],
    [example('GET', '/api/chats', `/api/chats?cursor=${cursor([1, 'x\u0000'])}`), 400, 'VALIDATION_FAILED'],
    [example('GET', '/api/users', `/api/users?cursor=${cursor(['x\u0000'])}`), 400, 'VALIDATION_FAILED'],
    [example('GET', '/api/activity', `/api/activity?cursor=${cursor([1, '99999999999999999999'])}`), 400, 'VALIDATION_FAILED'],
    [example('GET', '/api/errors', `/api/errors?cursor=${cursor([-1e300, '1'])}`, undefined, 'auditor'), 400, 'VALIDATION_FAILED'],
    [example('GET', '/api/activity', '/api/activity?from=0000-01-01T00:00:00Z'), 400, 'VALIDATION_FAILED'],
    [example('GET', '/api/activity', '/api/activity?from=2027-01-01T00:00:00Z&to=2026-01-01T00:00:00Z'), 400, 'VALIDATION_FAILED'],
    [example('GET', '/api/activity', '/api/activity?userId=alice%00', undefined, 'auditor'), 400, 'VALIDATION_FAILED'],
    [example('GET', '/api/activity/export', '/api/activity/export?format=csv&to=0000-06-01T00:00:00Z', undefined, 'auditor'), 400, 'VALIDATION_FAILED'],
    [example('GET', '/api/errors', '/api/errors?from=0001-01-01T00:30:00%2B01:00', undefined, 'auditor'), 400, 'VALIDATION_FAILED'],
    [example('GET', '/api/stats/messages-per-day', '/api/stats/messages-per-day?from=0000-01-01'), 400, 'VALIDATION_FAILED'],
    // The edges of the accepted range are accepted.
    [example('GET', '/api/activity', '/api/activity?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59.999Z'), 200, null],
    [example('GET', '/api/activity', `/api/activity?cursor=${cursor([Date.parse('9999-12-31T23:59:59.999Z'), '9223372036854775807'])}`), 200, null],
    [example('GET', '/api/stats/messages-per-day', '/api/stats/messages-per-day?from=0001-01-01&to=9999-12-31'), 200, null],
    [example('GET', '/api/chats/{chatId}/messages', '/api/chats/alice:bob/messages?before=2147483647'), 200, null],
  ];

  const examples = regressions.map(([e]) => e);
  for (const [[c], status, code] of regressions) {
    for (const side of [pg, lite]) {
      const r = await send(side, c);
      t.same([r.status, r.code], [status, code], `${side.h.kind}: ${c.route.method} ${c.url.slice(0, 80)} ${c.payload ?? ''}`);
    }
  }

  const statuses = new Map<string, number>();
  const started = Date.now();
  await fc.assert(fc.asyncProperty(fc.constantFrom(...routes).chain(crafted), async (c) => {
    const a = await send(pg, c);
    const b = await send(lite, c);
    const what = `${c.route.method} ${c.url.slice(0, 200)} ${c.payload === undefined ? '' : JSON.stringify(c.payload.slice(0, 200))} as ${c.auth}`;
    for (const [store, r] of [['postgres', a], ['embedded', b]] as const) {
      if (r.status >= 500) throw new Error(`${store}: ${r.status} for ${what}: ${r.body}`);
      if (r.status >= 400 && (r.code === null || !(r.code in API_ERRORS))) throw new Error(`${store}: ${r.status} without a registered code for ${what}: ${r.body}`);
    }
    if (a.status !== b.status || a.code !== b.code) throw new Error(`the stores disagree on ${what}: postgres ${a.status} ${a.code}, embedded ${b.status} ${b.code}`);
    const key = `${a.status}${a.code ? ` ${a.code}` : ''}`;
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
  }), { numRuns: RUNS, examples });
  const took = Date.now() - started;
  t.comment(JSON.stringify(Object.fromEntries([...statuses].sort())));
  t.ok(took < 90_000, `${RUNS} requests on each store in ${took} ms`);
  t.ok([...statuses.keys()].some((k) => k.startsWith('2')), 'some crafted requests were ordinary enough to succeed');
  t.ok((statuses.get('400 VALIDATION_FAILED') ?? 0) > RUNS / 10, 'validation refusals were exercised');
  t.ok((statuses.get('422 MESSAGE_INVALID_CHARACTERS') ?? 0) >= 2 && (statuses.get('422 PASSWORD_INVALID_CHARACTERS') ?? 0) >= 1,
    'text the stores cannot hold reached the domain\'s rules');

  for (const side of [pg, lite]) {
    const kind = side.h.kind;
    const sent = await side.alice.req({ method: 'POST', url: '/api/chats/alice:bob/messages', payload: { body: 'still here', clientMessageId: 'after-fuzz' } });
    t.equal(sent.statusCode, 201, `${kind}: an ordinary send after the fuzz is stored`);
    await side.h.settle();
    const history = await side.alice.req({ method: 'GET', url: '/api/chats/alice:bob/messages?limit=100' });
    t.equal(history.statusCode, 200, `${kind}: history still answers`);
    t.ok(json<{ messages: Array<{ body: string }> }>(history).messages.some((m) => m.body === 'still here'), `${kind}: and holds the new message`);
    const stored = json<{ messages: Array<{ body: string }> }>(history).messages.map((m) => m.body);
    t.notOk(stored.some((body) => body.includes('\u0000') || /[\ud800-\udfff]/.test(body.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))), `${kind}: no stored body holds U+0000 or an unpaired surrogate`);
  }
});
