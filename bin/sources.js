// The server's TypeScript sources and a fingerprint of them, shared by the build (bin/build.js) and the
// launcher (bin/chat.js): the launcher runs the compiled copy only when its fingerprint still matches,
// so an edited source is never shadowed by a stale build.
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = path.join(ROOT, 'dist');
export const STAMP = path.join(DIST, 'build-stamp.json');

const SOURCE_DIRS = ['domain', 'commands', 'projections', 'gateways', 'infra'];
// Browser code is bundled separately (gateways/web/build.ts), and its edits change the bundles.
const BROWSER_DIR = path.join('gateways', 'web');

/** Every file the compiled service depends on: .ts sources, page shells, styles and browser code. */
export function sourceFiles() {
  const files = [];
  const walk = (rel) => {
    for (const entry of readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (child.endsWith('.ts') || child.startsWith(BROWSER_DIR)) files.push(child);
    }
  };
  for (const dir of SOURCE_DIRS) walk(dir);
  return files.sort();
}

/** Changes whenever a source file is added, removed or modified (by size and mtime: no reads). */
export function fingerprint(files = sourceFiles()) {
  const hash = createHash('sha256');
  for (const file of files) {
    const st = statSync(path.join(ROOT, file));
    hash.update(`${file}\0${st.size}\0${st.mtimeMs}\n`);
  }
  return hash.digest('hex');
}
