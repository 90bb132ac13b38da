// docs/errors.md and the HTTP error registry (gateways/http/errors.ts) must say the same thing.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { DOMAIN_ERRORS } from '../../domain/errors.js';
import { API_ERRORS, DOMAIN_STATUS, HTTP_ERRORS } from '../../gateways/http/errors.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const section = (title: string): string => {
  const parts = doc.split(`\n## ${title}\n`);
  if (parts.length !== 2) throw new Error(`docs/errors.md needs exactly one "## ${title}" section`);
  return parts[1]!.split('\n## ')[0]!;
};

t.test('"## HTTP errors" lists every HTTP-level code with its status and message', async (t) => {
  const rows = [...section('HTTP errors').matchAll(/^\| ([A-Z_]+) \| (\d{3}) \| (.+) \|$/gm)];
  t.same(
    Object.fromEntries(rows.map((m) => [m[1], { status: Number(m[2]), message: m[3] }])),
    HTTP_ERRORS,
  );
});

t.test('"## HTTP status of each code" covers every code the API can answer, with its status', async (t) => {
  const rows = [...section('HTTP status of each code').matchAll(/^\| ([A-Z_]+) \| (\d{3}) \|$/gm)];
  t.same(
    Object.fromEntries(rows.map((m) => [m[1], Number(m[2])])),
    Object.fromEntries(Object.entries(API_ERRORS).map(([code, e]) => [code, e.status])),
  );
});

t.test('every domain code has an HTTP status, and domain messages are used unchanged', async (t) => {
  t.same(Object.keys(DOMAIN_STATUS).sort(), Object.keys(DOMAIN_ERRORS).sort());
  for (const [code, message] of Object.entries(DOMAIN_ERRORS)) t.equal(API_ERRORS[code as keyof typeof API_ERRORS].message, message, code);
  for (const { status } of Object.values(API_ERRORS)) t.ok(status >= 400 && status < 600);
});
