import { readFileSync } from 'node:fs';
import t from 'tap';
import { DOMAIN_ERRORS } from '../../domain/errors.js';

t.test('docs/errors.md lists exactly the domain error codes, with their messages', async (t) => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const section = doc.split('## Domain errors')[1]!.split('\n## ')[0]!;
  const rows = [...section.matchAll(/^\| ([A-Z_]+) \| (.+) \|$/gm)].map((m) => [m[1], m[2]]);
  t.same(Object.fromEntries(rows), DOMAIN_ERRORS);
});
