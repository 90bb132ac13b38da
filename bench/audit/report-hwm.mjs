// Preloaded into a benchmarked process (node --import): when it exits, writes its peak resident set
// size (VmHWM, else resourceUsage().maxRSS) to the file named by BENCH_HWM_FILE. Plain JS so it loads
// before tsx is registered.
import { readFileSync, writeFileSync } from 'node:fs';

process.on('exit', () => {
  const file = process.env.BENCH_HWM_FILE;
  if (!file) return;
  let kib = process.resourceUsage().maxRSS;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) kib = Number(m[1]);
  } catch {
    // not Linux: maxRSS it is
  }
  writeFileSync(file, JSON.stringify({ hwmKiB: kib }));
});
