/**
 * Which uWebSockets.js build this process runs. The package ships native binaries for some Node ABIs
 * and silently falls back to a much slower pure-JS implementation for the others (or when
 * UWS_USE_FALLBACK is set, which the package itself reads); the gateway logs which one it got, since
 * the difference is an order of magnitude in throughput. The answer comes from what the package
 * exported, not from the environment: its fallback is the module dist/index.js.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

export type UwsRuntime = 'native' | 'fallback';

let cached: UwsRuntime | null = null;

export function uwsRuntime(): UwsRuntime {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  let loaded: unknown;
  let fallbackFile: string;
  try {
    const entry = require.resolve('uWebSockets.js');
    fallbackFile = path.join(path.dirname(entry), '..', 'dist', 'index.js');
    // Already loaded by the gateway's import: require's cache makes this free.
    loaded = require('uWebSockets.js');
  } catch {
    return (cached = 'fallback');
  }
  const fallback = require.cache[fallbackFile];
  return (cached = fallback !== undefined && fallback.exports === loaded ? 'fallback' : 'native');
}
