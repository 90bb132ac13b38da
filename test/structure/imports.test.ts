// The direction of every import (docs/architecture.md, "What may import what"): dependencies point
// inward, so a reader can take any folder on its own. Every relative import of every .ts file counts,
// type-only ones too: a type from infra/ in commands/ still ties commands/ to infra/.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

/**
 * gateways/{http,ws,cli,web} importing infra/ directly, "importer -> imported". Empty: every
 * gateway gets its adapters from the composition root (gateways/service/). An entry that no longer
 * occurs fails the test, so a future exception cannot outlive what it excuses.
 */
const GATEWAYS_INFRA_ALLOWED: readonly string[] = [];

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE_DIRS = ['domain', 'commands', 'projections', 'infra', 'gateways'];

const tsFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === 'node_modules' ? [] : tsFiles(join(dir, e.name))) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );

/** Relative specifiers of static imports and re-exports (type-only included), side-effect imports and import(). */
const SPECIFIERS = [
  /\b(?:import|export)\s[^'";]*?\sfrom\s*['"](\.{1,2}\/[^'"]+)['"]/g,
  /\bimport\s*['"](\.{1,2}\/[^'"]+)['"]/g,
  /\bimport\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g,
];

/** Repo-relative, '/'-separated paths of what a file imports. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return SPECIFIERS.flatMap((re) =>
    [...text.matchAll(re)].map((m) => relative(root, resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts'))).split(sep).join('/')),
  );
}

const under = (path: string, ...prefixes: string[]): boolean => prefixes.some((p) => path === p || path.startsWith(`${p}/`));

interface Rule {
  name: string;
  /** The importers the rule applies to. */
  from: (file: string) => boolean;
  /** True when the imported path breaks the rule. */
  breaks: (imported: string) => boolean;
}

const RULES: Rule[] = [
  { name: 'domain imports only domain', from: (f) => under(f, 'domain'), breaks: (i) => !under(i, 'domain') },
  { name: 'commands import only domain and commands', from: (f) => under(f, 'commands'), breaks: (i) => !under(i, 'domain', 'commands') },
  {
    name: 'projections import only domain, commands/ports and projections',
    from: (f) => under(f, 'projections'),
    breaks: (i) => !under(i, 'domain', 'commands/ports', 'projections'),
  },
  { name: 'infra never imports gateways but their ports', from: (f) => under(f, 'infra'), breaks: (i) => under(i, 'gateways') && !under(i, 'gateways/ports') },
  {
    // The ORM lists every table, and the projections declare theirs: projections/index.ts is the one way in.
    name: 'infra imports only domain, the ports, infra and the projections list',
    from: (f) => under(f, 'infra'),
    breaks: (i) => !under(i, 'domain', 'commands/ports', 'projections/ports', 'gateways/ports', 'infra') && i !== 'projections/index.ts',
  },
];

const GATEWAYS_WITHOUT_INFRA = ['gateways/http', 'gateways/ws', 'gateways/cli', 'gateways/web'];

const files = SOURCE_DIRS.flatMap((d) => tsFiles(join(root, d))).map((f) => relative(root, f).split(sep).join('/'));
const edges = files.flatMap((f) => importsOf(join(root, f)).map((i) => ({ from: f, to: i })));

t.test('the source tree is found and its imports are read', async (t) => {
  t.ok(files.length > 100, `${files.length} source files`);
  t.ok(edges.some((e) => e.from.startsWith('gateways/') && e.to.startsWith('commands/')), 'gateways import commands');
});

for (const rule of RULES) {
  t.test(rule.name, async (t) => {
    const broken = edges.filter((e) => rule.from(e.from) && rule.breaks(e.to)).map((e) => `${e.from} -> ${e.to}`);
    t.same(broken, [], 'no import breaks the rule');
  });
}

t.test('gateways/{http,ws,cli,web} never import infra (gateways/service, the composition root, may)', async (t) => {
  const broken = edges
    .filter((e) => under(e.from, ...GATEWAYS_WITHOUT_INFRA) && under(e.to, 'infra'))
    .map((e) => `${e.from} -> ${e.to}`);
  const allowed = new Set(GATEWAYS_INFRA_ALLOWED);
  t.same(broken.filter((b) => !allowed.has(b)), [], 'no import of infra/ outside the allow-list');
  const found = new Set(broken);
  t.same(GATEWAYS_INFRA_ALLOWED.filter((a) => !found.has(a)), [], 'every allow-list entry still occurs (remove the others)');
});

t.test('the rules catch what they are for', async (t) => {
  const breaks = (from: string, to: string): string[] => RULES.filter((r) => r.from(from) && r.breaks(to)).map((r) => r.name);
  t.same(breaks('commands/login.ts', 'projections/users.ts'), ['commands import only domain and commands']);
  t.same(breaks('projections/users.ts', 'commands/login.ts'), ['projections import only domain, commands/ports and projections']);
  t.same(breaks('projections/users.ts', 'commands/ports/event-store.ts'), []);
  t.same(breaks('domain/chat.ts', 'domain/events.ts'), []);
  t.same(breaks('infra/runtime.ts', 'gateways/service/wiring.ts'), ['infra never imports gateways but their ports', 'infra imports only domain, the ports, infra and the projections list']);
  t.same(breaks('infra/runtime.ts', 'commands/handle-command.ts'), ['infra imports only domain, the ports, infra and the projections list']);
  t.same(breaks('infra/read-models/entities/index.ts', 'projections/index.ts'), []);
  const sample = "import type { A } from '../x/a.js';\nexport { b } from './b.js';\nimport './c.js';\nconst d = await import('../d.js');";
  const found = SPECIFIERS.flatMap((re) => [...sample.matchAll(re)].map((m) => m[1]));
  t.same(found.sort(), ['../d.js', '../x/a.js', './b.js', './c.js']);
});
