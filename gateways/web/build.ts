/**
 * The web client's build step: esbuild bundles the browser TypeScript (one entry per page, shared
 * code split into chunks) and the stylesheet (Bootstrap from node_modules plus ours) in memory when
 * the plugin starts, so `npm start` needs no separate build and nothing is written to the work tree.
 * Output names carry a content hash, so assets can be cached for good and a new build is never stale.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The pages, each with its own script entry (gateways/web/client/pages/<name>.ts). */
export const PAGE_NAMES = ['login', 'register', 'profile', 'chat'] as const;
export type PageName = (typeof PAGE_NAMES)[number];

export interface Asset {
  body: Buffer;
  contentType: string;
  etag: string;
}

export interface BuiltAssets {
  /** By URL path (/assets/…). */
  files: ReadonlyMap<string, Asset>;
  /** URL of each page's script. */
  scripts: Record<PageName, string>;
  /** URL of the one stylesheet. */
  stylesheet: string;
  buildMs: number;
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

export interface BuildOptions {
  /** Minify (default true); the tests and production both use the minified build. */
  minify?: boolean;
  /** Where the client sources are (default: beside this module); the ahead-of-time build runs from dist/. */
  sourceDir?: string;
}

/**
 * Where bin/build.js leaves the bundles beside the compiled code (relative to this module). It
 * exists only in dist/, so a start from the TypeScript sources always builds what it serves.
 */
export const PREBUILT_MANIFEST = 'gateways/web/assets/manifest.json';
const prebuiltManifest = path.join(HERE, 'assets', 'manifest.json');

interface PrebuiltManifest {
  scripts: Record<PageName, string>;
  stylesheet: string;
  files: Record<string, { file: string; contentType: string; etag: string }>;
}

/** The bundles the build wrote ahead of time, if this is a compiled copy and the caller wants them minified. */
export async function loadAssets(opts: BuildOptions = {}): Promise<BuiltAssets> {
  if ((opts.minify ?? true) && existsSync(prebuiltManifest)) {
    const started = performance.now();
    const manifest = JSON.parse(await readFile(prebuiltManifest, 'utf8')) as PrebuiltManifest;
    const files = new Map<string, Asset>();
    for (const [url, f] of Object.entries(manifest.files)) {
      files.set(url, { body: await readFile(path.join(HERE, 'assets', f.file)), contentType: f.contentType, etag: f.etag });
    }
    return { files, scripts: manifest.scripts, stylesheet: manifest.stylesheet, buildMs: Math.round(performance.now() - started) };
  }
  return buildAssets(opts);
}

export async function buildAssets(opts: BuildOptions = {}): Promise<BuiltAssets> {
  const started = performance.now();
  const sourceDir = opts.sourceDir ?? HERE;
  const entryPoints: Record<string, string> = { app: path.join(sourceDir, 'styles/app.css') };
  for (const name of PAGE_NAMES) entryPoints[name] = path.join(sourceDir, 'client/pages', `${name}.ts`);
  const outdir = path.join(sourceDir, 'out'); // virtual: write is false
  const result = await build({
    entryPoints,
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    // Browsers of the last few years (module scripts, class fields, top-level await).
    target: ['es2022', 'chrome100', 'firefox100', 'safari15.4'],
    platform: 'browser',
    minify: opts.minify ?? true,
    sourcemap: 'linked',
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    assetNames: '[name]-[hash]',
    metafile: true,
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
  });
  const files = new Map<string, Asset>();
  for (const out of result.outputFiles) {
    const url = `/assets/${path.relative(outdir, out.path).split(path.sep).join('/')}`;
    const contentType = CONTENT_TYPES[path.extname(out.path)] ?? 'application/octet-stream';
    files.set(url, { body: Buffer.from(out.contents), contentType, etag: `"${createHash('sha256').update(out.contents).digest('base64url').slice(0, 22)}"` });
  }
  const urlOfEntry = (name: string): string => {
    for (const [out, meta] of Object.entries(result.metafile.outputs)) {
      if (meta.entryPoint && path.resolve(meta.entryPoint) === path.resolve(entryPoints[name]!) && !out.endsWith('.map')) {
        return `/assets/${path.relative(outdir, path.resolve(out)).split(path.sep).join('/')}`;
      }
    }
    throw new Error(`web build: no output for entry ${name}`);
  };
  const scripts = Object.fromEntries(PAGE_NAMES.map((n) => [n, urlOfEntry(n)])) as Record<PageName, string>;
  return { files, scripts, stylesheet: urlOfEntry('app'), buildMs: Math.round(performance.now() - started) };
}
