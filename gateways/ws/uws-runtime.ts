/**
 * Which uWebSockets.js build this process runs. The package ships native binaries for some Node ABIs
 * and silently falls back to a much slower pure-JS implementation for the others (or when
 * UWS_USE_FALLBACK is set); the gateway logs which one it got, since the difference is an order of
 * magnitude in throughput.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export type UwsRuntime = 'native' | 'fallback';

let cached: UwsRuntime | null = null;

export function uwsRuntime(): UwsRuntime {
  if (cached) return cached;
  const flag = process.env['UWS_USE_FALLBACK'];
  if (flag === 'true' || flag === 'True' || flag === 'TRUE' || flag === '1') return (cached = 'fallback');
  const require = createRequire(import.meta.url);
  let binary: string;
  try {
    const entry = require.resolve('uWebSockets.js');
    binary = path.join(path.dirname(entry), '..', 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  } catch {
    return (cached = 'fallback');
  }
  if (!existsSync(binary)) return (cached = 'fallback');
  try {
    // The same file the package loads; require's cache makes this free once the package is imported.
    require(binary);
    return (cached = 'native');
  } catch {
    return (cached = 'fallback');
  }
}
