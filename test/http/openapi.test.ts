// The OpenAPI document is valid OpenAPI 3.0 (client generators refuse one that is not), docs/http.md's
// endpoint reference is the text generated from it, and docs/http.md names every route the app serves.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';
import t from 'tap';
import { endpointReference, generatedPart, type OpenApiDocument } from '../../gateways/http/api-doc/markdown.js';
import { openApiDocument } from '../../gateways/http/api-doc/openapi.js';
import { json, startHarness } from './harness.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const httpDoc = (): string => readFileSync(path.join(ROOT, 'docs/http.md'), 'utf8');

/** Method and path of every route in fastify's printRoutes() tree (labels along a branch concatenate). */
function registeredRoutes(tree: string): Array<{ method: string; url: string }> {
  const prefix: string[] = [];
  const out: Array<{ method: string; url: string }> = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:[│ ]   |[├└]── )*)(.*)$/.exec(line);
    if (!m || !m[2]) continue;
    const depth = m[1]!.length / 4;
    const node = /^(.*?)(?: \(([A-Z, ]+)\))?$/.exec(m[2])!;
    prefix.length = depth;
    prefix[depth - 1] = node[1]!;
    const url = prefix.join('');
    for (const method of node[2]?.split(', ') ?? []) if (method !== 'HEAD') out.push({ method, url });
  }
  return out;
}

t.test('the served OpenAPI document validates as OpenAPI 3.0 and matches the generator\'s', async (t) => {
  const h = await startHarness('embedded');
  t.teardown(() => h.close());
  const res = await h.app.inject({ method: 'GET', url: '/docs/json' });
  t.equal(res.statusCode, 200);
  const served = json<OpenApiDocument & { openapi: string }>(res);
  t.match(served.openapi, /^3\.0\./, 'OpenAPI 3.0.x');
  const generated = await openApiDocument();

  for (const [label, doc] of [['served', served], ['generator', generated]] as const) {
    const result = await new Validator().validate(structuredClone(doc) as unknown as Parameters<Validator['validate']>[0]);
    t.same(result.errors ?? [], [], `${label}: no validation errors`);
    t.equal(result.valid, true, `${label}: valid`);
  }
  t.ok(served.components?.schemas?.['ErrorBody'], 'the error schema keeps its name');
  // The generator's app adds the routes the harness leaves out (message counts); the rest is the same.
  for (const [p, ops] of Object.entries(served.paths)) {
    t.same(generated.paths[p], ops, `${p}: the generator documents what the app serves`);
  }
  t.ok(generated.paths['/api/stats/messages-per-day'], 'the generator registers the optional routes the service has');
});

t.test('docs/http.md holds the endpoint reference generated from the schemas (npm run docs:http)', async (t) => {
  const committed = generatedPart(httpDoc());
  t.ok(committed, 'docs/http.md has the generated section');
  t.equal(committed, endpointReference(await openApiDocument()), 'unchanged since generated: run `npm run docs:http` after changing a schema');
});

t.test('docs/http.md names every route the app serves, and the paging table its limits', async (t) => {
  const doc = httpDoc();
  const api = await openApiDocument();
  const table = doc.slice(doc.indexOf('## Endpoints'), doc.indexOf('## Paging and cursors'));
  for (const [p, ops] of Object.entries(api.paths)) {
    const url = p.replace(/\{(\w+)\}/g, ':$1');
    for (const method of Object.keys(ops)) {
      const row = new RegExp(`^\\| ${method.toUpperCase()} \\| \`${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[?\` ]`, 'm');
      t.match(table, row, `${method.toUpperCase()} ${url} is in the endpoint table`);
    }
  }

  // Routes outside the document (Swagger UI's own) are named in the text, or under a `prefix/*` it names.
  const h = await startHarness('embedded');
  t.teardown(() => h.close());
  const routes = registeredRoutes(h.app.printRoutes());
  t.ok(routes.length > 15, 'the route tree was read');
  const wildcards = [...doc.matchAll(/`(\/[^`\s]*\/)\*`/g)].map((m) => m[1]!);
  for (const { method, url } of routes) {
    const inDocument = Object.keys(api.paths).some((p) => p.replace(/\{(\w+)\}/g, ':$1') === url);
    if (inDocument) continue;
    const named = doc.includes(`\`${url.replace(/(.)\/$/, '$1')}\``) || wildcards.some((w) => url.startsWith(w));
    t.ok(named, `${method} ${url} is named in docs/http.md`);
  }

  const paging = doc.slice(doc.indexOf('## Paging and cursors'), doc.indexOf('## Sessions'));
  for (const [p, ops] of Object.entries(api.paths)) {
    const limit = ops['get']?.parameters?.find((x) => x.name === 'limit');
    if (!limit) continue;
    const url = p.replace(/\{(\w+)\}/g, ':$1');
    t.match(paging, `| \`GET ${url}\` | ${String(limit.schema.default)} | ${String(limit.schema.maximum)} |`, `${url}: default and maximum of limit`);
  }
});

t.test('every operation lists the statuses its own input can bring', async (t) => {
  // A client generated from the document must know them: a path or query parameter can be refused
  // (400 VALIDATION_FAILED), a body as well, and also be too large (413) or not JSON (415).
  const api = await openApiDocument();
  for (const [p, ops] of Object.entries(api.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const listed = Object.keys(op.responses ?? {});
      const need = new Set<string>();
      if ((op.parameters ?? []).length > 0) need.add('400');
      if (op.requestBody) for (const s of ['400', '413', '415']) need.add(s);
      // A write with a session spends the user's write budget (plugins/write-limit.ts); logout never does.
      if (method !== 'get' && !['/api/logout', '/api/register', '/api/login'].includes(p)) need.add('429');
      for (const s of need) t.ok(listed.includes(s), `${method.toUpperCase()} ${p} lists ${s}`);
    }
  }
});
