// The tables bench:e2e (run.ts) prints at the end: the best stage per system, and every stage.
import type { TopologyName } from './topologies.js';
import type { ModeResult } from './measures.js';

export const fmt = (x: number | null | undefined, unit = ''): string => (x === null || x === undefined || Number.isNaN(x) ? '-' : `${x}${unit}`);

export function table(results: Partial<Record<TopologyName, ModeResult>>): string {
  const head = ['system', 'best msgs/s', 'p99 ms', 'pg lag p99/max ms', 'redis lag p99/max ms', 'catch-up pg/redis ms', 'CPU ms/msg: servers', 'pg', 'redis', 'rabbit', 'server-side', 'loadgen', 'lost', 'dup', 'read models lost/dup (pg | redis)'];
  const rows = (Object.entries(results) as [TopologyName, ModeResult][]).map(([mode, r]) => {
    const b = r.best;
    const c = r.consistency;
    const lost = r.stages.reduce((s, st) => s + st.report.lost, 0);
    return [
      mode, fmt(b?.report.deliveredPerSec), fmt(b?.report.p99),
      b?.pgLag ? `${b.pgLag.p99Ms}/${b.pgLag.maxMs}` : '-',
      b?.redisLag ? `${b.redisLag.p99Ms}/${b.redisLag.maxMs}` : mode === 'seed' ? 'before ack' : '-',
      mode === 'raw' ? '-' : `${fmt(r.finalCatchUp.pgMs)}/${mode === 'seed' ? 'before ack' : fmt(r.finalCatchUp.redisMs)}`,
      fmt(b?.cpu?.servers), fmt(b?.cpu?.postgres), fmt(b?.cpu?.redis), fmt(b?.cpu?.rabbitmq), fmt(b?.cpu?.serverSide), fmt(b?.cpu?.loadgen),
      String(lost), String(r.deliveryDuplicates),
      c ? `${c.pgLost}/${c.pgDuplicated} | ${c.redisLost}/${c.redisDuplicated}` : '-',
    ];
  });
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** Every stage of every system: what the best-stage table summarises, and what a failed search still tells. */
export function stageTable(results: Partial<Record<TopologyName, ModeResult>>): string {
  const head = ['system', 'offered', 'delivered', 'p99 ms', 'pg lag p99/max ms', 'redis lag p99/max ms', 'catch-up pg/redis ms', 'server-side CPU ms/msg (servers+pg+redis+rabbit)', 'loadgen', 'counts'];
  const rows: string[][] = [];
  for (const [mode, r] of Object.entries(results) as [TopologyName, ModeResult][]) {
    for (const st of r.stages) {
      const c = st.cpu;
      rows.push([
        mode, String(st.report.offered), String(st.report.deliveredPerSec), String(st.report.p99),
        st.pgLag ? `${st.pgLag.p99Ms}/${st.pgLag.maxMs}` : '-',
        st.redisLag ? `${st.redisLag.p99Ms}/${st.redisLag.maxMs}` : mode === 'seed' ? 'before ack' : '-',
        mode === 'raw' ? '-' : `${fmt(st.pgCatchUpMs)}/${mode === 'seed' ? '-' : fmt(st.redisCatchUpMs)}`,
        c ? `${c.serverSide} (${c.servers}+${c.postgres}+${c.redis}+${c.rabbitmq})` : '-',
        fmt(c?.loadgen),
        st.ok ? 'yes' : !st.report.ok ? 'no: latency/loss' : 'no: read side behind',
      ]);
    }
  }
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
