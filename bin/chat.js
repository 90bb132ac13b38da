#!/usr/bin/env node
// The `chat` command. Runs the ahead-of-time build in dist/ (bin/build.js, run by `npm install`) when
// it matches the sources; otherwise, as while editing, loads the TypeScript sources through tsx, so a
// stale build never runs and there is no build step to forget.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DIST, STAMP, fingerprint } from './sources.js';

function compiledIsCurrent() {
  if (!existsSync(STAMP)) return false;
  try {
    return JSON.parse(readFileSync(STAMP, 'utf8')).fingerprint === fingerprint();
  } catch {
    return false;
  }
}

if (compiledIsCurrent()) {
  await import(pathToFileURL(path.join(DIST, 'gateways/cli/main.js')).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../gateways/cli/main.ts');
}
