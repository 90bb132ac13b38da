// The presence benchmark's client side (bench/presence/run.ts starts it in its own process):
//   idle  — opens N authenticated sockets to one gateway, each watching its chat partner, and holds them;
//   churn — opens `rate` sockets a second, alternating between the gateways by pair side, each
//           watching its partner and closed after `holdMs`, and prints cumulative counts every second.
// Usage: node --import tsx bench/presence/load.ts <config.json>
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import type { BenchPair } from '../ws/common.js';

export interface PresenceLoadConfig {
  part: 'idle' | 'churn';
  urls: string[];
  pairs: BenchPair[];
  watch: boolean;
  idleSockets: number;
  rate: number;
  seconds: number;
  holdMs: number;
}

const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as PresenceLoadConfig;
const out = (o: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };

const counts = { opened: 0, failed: 0, closed: 0, presenceFrames: 0, errors: 0, answered: 0 };
const entries = config.pairs.flatMap((p) => [{ user: p.a, chatId: p.chatId, side: 0 }, { user: p.b, chatId: p.chatId, side: 1 }]);

function open(url: string, token: string, chatId: string): Promise<WebSocket | null> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url}/ws`, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    ws.on('message', (d: Buffer) => {
      const f = JSON.parse(d.toString()) as { type: string; ref?: string };
      if (f.type === 'presence') {
        counts.presenceFrames++;
        if (f.ref) counts.answered++;
      } else if (f.type === 'error') {
        counts.errors++;
        // A refused watch (the session could not be checked under load, say) is answered too.
        if (f.ref === 'w' && !(f as { chatId?: string }).chatId) counts.answered++;
      }
    });
    ws.once('open', () => {
      counts.opened++;
      if (config.watch) ws.send(JSON.stringify({ type: 'watch', ref: 'w', chats: [chatId] }));
      resolve(ws);
    });
    ws.once('close', () => { counts.closed++; });
    ws.once('error', () => {
      counts.failed++;
      resolve(null);
    });
  });
}

if (config.part === 'idle') {
  const started = Date.now();
  const sockets: WebSocket[] = [];
  for (let i = 0; i < config.idleSockets; i += 200) {
    const batch = await Promise.all(Array.from({ length: Math.min(200, config.idleSockets - i) }, (_, k) => {
      const e = entries[(i + k) % entries.length]!;
      return open(config.urls[0]!, e.user.token, e.chatId);
    }));
    for (const ws of batch) if (ws) sockets.push(ws);
  }
  const until = Date.now() + 60_000;
  while (config.watch && counts.answered < sockets.length && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  out({ event: 'idle-ready', sockets: sockets.length, openMs: Date.now() - started, ...counts });
  await new Promise<void>((resolve) => {
    process.stdin.on('end', resolve);
    process.stdin.on('close', resolve);
    process.stdin.resume();
  });
  for (const s of sockets) s.terminate();
  process.exit(0);
}

// ---- churn ----
const started = Date.now();
let next = 0;
let due = 0;
const tick = setInterval(() => {
  const target = Math.floor(((Date.now() - started) * config.rate) / 1000);
  for (; due < target; due++) {
    const e = entries[next++ % entries.length]!;
    void open(config.urls[e.side % config.urls.length]!, e.user.token, e.chatId).then((ws) => {
      if (ws) setTimeout(() => ws.close(1000), config.holdMs);
    });
  }
}, 5);
const report = setInterval(() => out({ event: 'tick', t: Date.now(), ...counts }), 1000);
setTimeout(() => {
  clearInterval(tick);
  setTimeout(() => {
    clearInterval(report);
    out({ event: 'churn-done', t: Date.now(), ...counts });
    process.exit(0);
  }, config.holdMs + 1000);
}, config.seconds * 1000);
