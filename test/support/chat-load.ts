// Steady chat traffic through a load balancer, for test/cluster/topology-faults.test.ts: pairs of
// users (registered, logged in and given a chat through the HTTP API), each user on a WebSocket that
// sends at a fixed rate, one message at a time, and records every acknowledged message. Every event a
// socket receives is checked against the revision it last had: across reconnects (to any gateway) a
// chat must continue exactly where it left off, so a skipped revision counts as a gap and a repeated
// one as a duplicate. A lost socket reconnects with backoff, resumes from its last revision and sends
// its unacknowledged message again (same clientMessageId: idempotent). A reader pages history
// (newest page, then the one before) through the API the whole time.
import WebSocket from 'ws';
import { sleep } from './wait.js';

export interface Acked {
  messageId: string;
  chatId: string;
  clientMessageId: string;
  revision: number;
  /** When the ack arrived (Date.now()). */
  at: number;
}

interface Pair {
  chatId: string;
  tokens: [string, string];
}

async function call<T>(base: string, method: string, url: string, token: string | null, body?: unknown): Promise<{ status: number; json: T }> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    // Password hashing sheds load with 503 + Retry-After: wait and ask again.
    if (res.status === 503 && attempt < 20) {
      await sleep(500);
      continue;
    }
    return { status: res.status, json: (text ? JSON.parse(text) : null) as T };
  }
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/** Registers 2 × pairs users, logs them in (bearer tokens) and opens one chat per pair, all through `base`. */
export async function setUpPairs(base: string, pairs: number, tag: string): Promise<Pair[]> {
  const names = Array.from({ length: pairs * 2 }, (_, i) => `${tag}${i}`);
  const password = 'topology-faults-password';
  const tokens = new Map<string, string>();
  await inBatches(names, 8, async (username) => {
    const reg = await call(base, 'POST', '/api/register', null, { username, password });
    if (reg.status !== 201) throw new Error(`register ${username}: ${reg.status} ${JSON.stringify(reg.json)}`);
    const login = await call<{ token: string }>(base, 'POST', '/api/login', null, { username, password, bearer: true });
    if (login.status !== 200) throw new Error(`login ${username}: ${login.status} ${JSON.stringify(login.json)}`);
    tokens.set(username, login.json.token);
  });
  const out: Pair[] = [];
  await inBatches(Array.from({ length: pairs }, (_, i) => i), 8, async (i) => {
    const [a, b] = [names[2 * i]!, names[2 * i + 1]!];
    const chat = await call<{ chatId: string }>(base, 'POST', '/api/chats', tokens.get(a)!, { username: b });
    if (chat.status !== 201) throw new Error(`chat ${a}-${b}: ${chat.status} ${JSON.stringify(chat.json)}`);
    out[i] = { chatId: chat.json.chatId, tokens: [tokens.get(a)!, tokens.get(b)!] };
  });
  return out;
}

interface Frame {
  type: string;
  ref?: string;
  chatId?: string;
  revision?: number;
  messageId?: string;
  code?: string;
}

/** One user's socket: connects (again) through the balancer, resumes, sends, checks what arrives. */
class LoadClient {
  lastRevision = -1;
  gaps = 0;
  duplicates = 0;
  connects = 0;
  /** The gateway (HAProxy server name) of the current socket. */
  gateway = '';
  sending = false;
  #ws: WebSocket | null = null;
  #seq = 0;
  #waiting = new Map<string, (f: Frame | null) => void>();
  #stopped = false;
  #ready: Promise<void> = Promise.resolve();

  constructor(readonly id: string, private readonly load: ChatLoad, readonly chatId: string, private readonly token: string) {}

  start(): void {
    this.#ready = this.#connect();
  }

  #connect(): Promise<void> {
    return (async () => {
      for (let attempt = 0; !this.#stopped; attempt++) {
        try {
          await this.#open();
          return;
        } catch {
          await sleep(Math.min(2000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2));
        }
      }
    })();
  }

  #open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.load.wsUrl, { headers: { authorization: `Bearer ${this.token}` } });
      let established = false;
      ws.on('upgrade', (res) => void (this.gateway = String(res.headers['x-gateway'] ?? '')));
      ws.on('error', () => undefined);
      ws.on('message', (data: Buffer) => this.#onFrame(JSON.parse(data.toString('utf8')) as Frame));
      ws.once('close', () => {
        if (this.#ws === ws) this.#ws = null;
        for (const w of this.#waiting.values()) w(null);
        this.#waiting.clear();
        // Before the resume completed, the connect loop that opened it tries again; after, a new loop starts.
        if (!established) reject(new Error('closed before resumed'));
        else if (!this.#stopped) this.#ready = this.#connect();
      });
      ws.once('open', () => {
        this.#ws = ws;
        this.connects += 1;
        // Resume from the last revision this client holds: the gateway sends exactly what follows.
        void this.#request({ type: 'resume', chats: { [this.chatId]: this.lastRevision } }, 'resumed').then((f) => {
          if (f?.type === 'resumed') {
            established = true;
            resolve();
          } else ws.terminate();
        });
      });
    });
  }

  #onFrame(f: Frame): void {
    if (f.type === 'event' && f.chatId === this.chatId) {
      const r = f.revision!;
      if (r <= this.lastRevision) this.duplicates += 1;
      else {
        if (r > this.lastRevision + 1) this.gaps += 1;
        this.lastRevision = r;
      }
      return;
    }
    const w = f.ref === undefined ? undefined : this.#waiting.get(f.ref);
    if (w) {
      this.#waiting.delete(f.ref!);
      w(f);
    }
  }

  #request(frame: Record<string, unknown>, answer: string, timeoutMs = 20_000): Promise<Frame | null> {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.resolve(null);
    const ref = `${answer[0]}${++this.#seq}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(ref);
        ws.terminate(); // a socket that stopped answering: start over on a new one
        resolve(null);
      }, timeoutMs);
      this.#waiting.set(ref, (f) => {
        clearTimeout(timer);
        resolve(f);
      });
      ws.send(JSON.stringify({ ...frame, ref }));
    });
  }

  /** Sends one message until it is acknowledged (again after reconnects, with the same clientMessageId). */
  async sendOne(n: number): Promise<void> {
    const clientMessageId = `${this.id}-${n}`;
    this.sending = true;
    try {
      while (!this.#stopped) {
        await this.#ready;
        const f = await this.#request({ type: 'send', chatId: this.chatId, body: `m ${clientMessageId}`, clientMessageId }, 'ack');
        if (f?.type === 'ack') {
          this.load.record({ messageId: f.messageId!, chatId: this.chatId, clientMessageId, revision: f.revision!, at: Date.now() });
          return;
        }
        if (f?.type === 'error') this.load.errors.set(f.code!, (this.load.errors.get(f.code!) ?? 0) + 1);
        await sleep(200);
      }
    } finally {
      this.sending = false;
    }
  }

  async run(intervalMs: number): Promise<void> {
    await sleep(Math.random() * intervalMs);
    for (let n = 0; !this.#stopped; n++) {
      while (this.load.paused && !this.#stopped) await sleep(50);
      if (this.#stopped) break;
      const started = Date.now();
      await this.sendOne(n);
      await sleep(Math.max(0, intervalMs - (Date.now() - started)));
    }
  }

  close(): void {
    this.#stopped = true;
    this.#ws?.terminate();
  }
}

export class ChatLoad {
  readonly acked = new Map<string, Acked>();
  readonly errors = new Map<string, number>();
  readonly clients: LoadClient[] = [];
  paused = false;
  reads = 0;
  readFailures: string[] = [];
  #running: Promise<unknown>[] = [];
  #stopped = false;

  constructor(readonly base: string, readonly wsUrl: string, readonly pairs: Pair[], private readonly ratePerUser: number) {
    for (const [i, p] of pairs.entries()) {
      this.clients.push(new LoadClient(`p${i}a`, this, p.chatId, p.tokens[0]), new LoadClient(`p${i}b`, this, p.chatId, p.tokens[1]));
    }
  }

  record(a: Acked): void {
    if (!this.acked.has(a.clientMessageId)) this.acked.set(a.clientMessageId, a);
  }

  start(): void {
    for (const c of this.clients) c.start();
    this.#running = [...this.clients.map((c) => c.run(1000 / this.ratePerUser)), this.#reader()];
  }

  /** History pages through the API: the newest, then the one before it (read model, the replica). */
  async #reader(): Promise<void> {
    for (let i = 0; !this.#stopped; i++) {
      const p = this.pairs[i % this.pairs.length]!;
      try {
        const first = await call<{ nextBefore: number | null }>(this.base, 'GET', `/api/chats/${p.chatId}/messages?limit=20`, p.tokens[0]);
        this.reads += 1;
        if (first.status !== 200) this.readFailures.push(`${first.status}`);
        else if (first.json.nextBefore !== null) {
          const older = await call(this.base, 'GET', `/api/chats/${p.chatId}/messages?limit=20&before=${first.json.nextBefore}`, p.tokens[0]);
          this.reads += 1;
          if (older.status !== 200) this.readFailures.push(`${older.status}`);
        }
      } catch (err) {
        this.readFailures.push(err instanceof Error ? err.message : String(err));
      }
      await sleep(100);
    }
  }

  /** Stops new sends and waits until every started one is acknowledged. */
  async pause(): Promise<void> {
    this.paused = true;
    while (this.clients.some((c) => c.sending)) await sleep(50);
  }

  resume(): void {
    this.paused = false;
  }

  get gaps(): number {
    return this.clients.reduce((n, c) => n + c.gaps, 0);
  }

  get duplicates(): number {
    return this.clients.reduce((n, c) => n + c.duplicates, 0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const c of this.clients) c.close();
    await Promise.allSettled(this.#running);
  }
}
