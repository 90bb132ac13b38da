// The HTTP gateway's shape (issue 14): no import cycle, one route signature registered one way, and
// the cross-cutting plugins declare what they need, so fastify refuses them in the wrong order.
import cookie from '@fastify/cookie';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import t from 'tap';
import { httpConfig } from '../../gateways/http/config.js';
import { authPlugin } from '../../gateways/http/plugins/auth.js';
import { csrfPlugin } from '../../gateways/http/plugins/csrf.js';
import { SqliteSessionStore } from '../../infra/sessions/sqlite.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const http = join(root, 'gateways/http');

const tsFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));

/** Relative imports (type-only ones too: a cycle of types is still a cycle of modules to a reader). */
const importsOf = (file: string): string[] =>
  [...readFileSync(file, 'utf8').matchAll(/(?:import|export)[^'";]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/g)]
    .map((m) => resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));

t.test('gateways/http has no import cycle', async (t) => {
  const files = new Set(tsFiles(http));
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]): void => {
    state.set(file, 'open');
    for (const next of importsOf(file)) {
      if (!files.has(next)) continue;
      if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next].map((f) => relative(root, f)).join(' → '));
      else if (!state.has(next)) visit(next, [...path, next]);
    }
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file, [file]);
  t.same(cycles, []);
});

t.test('every route module exports one RoutePlugin, and app.ts registers each the same way', async (t) => {
  const app = readFileSync(join(http, 'app.ts'), 'utf8');
  const registered = /const routes: RoutePlugin\[\] = \[([^\]]+)\]/.exec(app)?.[1]?.split(',').map((s) => s.trim()) ?? [];
  const routeFiles = readdirSync(join(http, 'routes')).filter((f) => f.endsWith('.ts'));
  t.ok(routeFiles.length > 0);
  for (const file of routeFiles) {
    const src = readFileSync(join(http, 'routes', file), 'utf8');
    const exported = [...src.matchAll(/^export const (\w+): RoutePlugin\b/gm)].map((m) => m[1]!);
    t.equal(exported.length, 1, `${file}: one RoutePlugin`);
    t.notMatch(src, /^export (async )?function \w+Routes/m, `${file}: no other route signature`);
    t.ok(registered.includes(exported[0]!), `${file}: ${exported[0]} is in app.ts's routes list`);
  }
  t.equal(registered.length, routeFiles.length, 'nothing else is in the list');
});

t.test('csrf declares its dependency on auth, auth on @fastify/cookie', async (t) => {
  const sessions = SqliteSessionStore.open({ file: ':memory:' });
  t.teardown(() => sessions.close());
  const config = httpConfig();

  const noCookie = Fastify();
  await noCookie.register(authPlugin, { sessions, config }).ready().then(
    () => t.fail('auth loaded without @fastify/cookie'),
    (err: Error) => t.match(err.message, /'@fastify\/cookie' of plugin 'auth'/, 'auth needs the cookie plugin'),
  );
  await noCookie.close();

  const noAuth = Fastify();
  await noAuth.register(cookie);
  await noAuth.register(csrfPlugin, { config }).ready().then(
    () => t.fail('csrf loaded without auth'),
    (err: Error) => t.match(err.message, /'auth' of plugin 'csrf'/, 'csrf needs auth'),
  );
  await noAuth.close();

  const ordered = Fastify();
  await ordered.register(cookie);
  await ordered.register(authPlugin, { sessions, config });
  await ordered.register(csrfPlugin, { config });
  await ordered.ready();
  t.ok(ordered.hasPlugin('auth') && ordered.hasPlugin('csrf'), 'cookie, auth, csrf: loads, each plugin under its declared name');
  await ordered.close();
});
