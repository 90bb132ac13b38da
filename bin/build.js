#!/usr/bin/env node
// Compiles the service ahead of time (npm's `prepare`, so `npm install` / `npm ci` run it): esbuild
// transpiles each TypeScript file to dist/ beside a copy of the page shells, and the web client's
// bundles are written once to dist/gateways/web/assets/. Production then starts plain JavaScript
// with no compile at start (issue 13: start-up under 2 s). Written to a scratch folder and renamed,
// so a launcher never sees half a build.
import { cpSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { DIST, ROOT, fingerprint, sourceFiles } from './sources.js';

const started = performance.now();
const files = sourceFiles();
const stamp = fingerprint(files);
const scratch = `${DIST}.tmp-${process.pid}`;
rmSync(scratch, { recursive: true, force: true });

const serverEntries = files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.startsWith(path.join('gateways', 'web', 'client')));
await build({
  entryPoints: serverEntries.map((f) => path.join(ROOT, f)),
  outdir: scratch,
  outbase: ROOT,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  bundle: false,
  sourcemap: 'linked',
  logLevel: 'warning',
});
cpSync(path.join(ROOT, 'gateways/web/pages'), path.join(scratch, 'gateways/web/pages'), { recursive: true });

// The bundles, built by the compiled build module so the result is exactly what a start would build.
const { buildAssets, PREBUILT_MANIFEST } = await import(pathToFileURL(path.join(scratch, 'gateways/web/build.js')).href);
const assets = await buildAssets({ minify: true, sourceDir: path.join(ROOT, 'gateways/web') });
const assetDir = path.join(scratch, 'gateways/web/assets');
mkdirSync(assetDir, { recursive: true });
const manifest = { scripts: assets.scripts, stylesheet: assets.stylesheet, files: {} };
for (const [url, asset] of assets.files) {
  const name = url.slice('/assets/'.length);
  mkdirSync(path.dirname(path.join(assetDir, name)), { recursive: true });
  writeFileSync(path.join(assetDir, name), asset.body);
  manifest.files[url] = { file: name, contentType: asset.contentType, etag: asset.etag };
}
writeFileSync(path.join(scratch, PREBUILT_MANIFEST), JSON.stringify(manifest));
writeFileSync(path.join(scratch, 'build-stamp.json'), JSON.stringify({ fingerprint: stamp }));

rmSync(DIST, { recursive: true, force: true });
renameSync(scratch, DIST);
process.stdout.write(`chat: compiled ${serverEntries.length} files and the web client to dist/ in ${Math.round(performance.now() - started)} ms\n`);
