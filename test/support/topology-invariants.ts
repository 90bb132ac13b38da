// The invariants test/cluster/topology-faults.test.ts checks after each fault, for a set of
// acknowledged messages: each is in the event log once (by event id, and no clientMessageId appended
// twice), in the messages read model once, and in the Redis last-100 view (the history page the API
// serves from the cache) when it is among its chat's newest 100 messages in the log; and
// `chat audit verify` (the CLI, as an operator runs it) finds every read model equal to the log.
import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Acked } from './chat-load.js';

const run = promisify(execFile);
// TOPOLOGY_CHAT_ROOT: run the service from another checkout (e.g. a clean export while this tree is mid-edit).
const ROOT = process.env['TOPOLOGY_CHAT_ROOT'] ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Counts {
  acked: number;
  inLog: number;
  inReadModel: number;
  /** Acked messages among their chat's newest 100 in the log: the ones the view must hold. */
  forView: number;
  inView: number;
  duplicates: number;
  missing: number;
}

export const holds = (c: Counts): boolean => c.missing === 0 && c.duplicates === 0;

interface ChatAccess {
  chatId: string;
  token: string;
}

export class Invariants {
  readonly #db: pg.Pool;
  readonly #inLog = new Set<string>();
  readonly #inReadModel = new Set<string>();

  constructor(private readonly o: { url: string; schema: string; base: string; chats: ChatAccess[]; env: Record<string, string> }) {
    this.#db = new pg.Pool({ connectionString: o.url, max: 3 });
    this.#db.on('error', () => undefined);
  }

  /** Ids of `ids` found (once confirmed, an id is not asked again: the log and the read model only grow). */
  async #confirm(seen: Set<string>, ids: string[], sql: string): Promise<void> {
    const todo = ids.filter((id) => !seen.has(id));
    if (todo.length === 0) return;
    const r = await this.#db.query<{ id: string }>(sql, [todo]);
    for (const row of r.rows) seen.add(row.id);
  }

  async #duplicates(): Promise<number> {
    const s = this.o.schema;
    const r = await this.#db.query<{ log: number; rm: number }>(`select
      (select count(*)::int from (select 1 from ${s}.events where type = 'MessageSent'
        group by stream_id, data->>'clientMessageId' having count(*) > 1) d) as log,
      (select count(*)::int from (select 1 from ${s}.messages group by chat_id, client_message_id having count(*) > 1) d) as rm`);
    return r.rows[0]!.log + r.rows[0]!.rm;
  }

  /** Per chat, the message ids of its newest 100 messages in the log. */
  async #newest100(chatIds: string[]): Promise<Map<string, Set<string>>> {
    const r = await this.#db.query<{ stream_id: string; id: string }>(
      `select stream_id, id from (select stream_id, event_id::text as id,
         row_number() over (partition by stream_id order by revision desc) as n
       from ${this.o.schema}.events where type = 'MessageSent' and stream_id = any($1::text[])) x where n <= 100`,
      [chatIds.map((c) => `chat-${c}`)]);
    const out = new Map<string, Set<string>>(chatIds.map((c) => [c, new Set()]));
    for (const row of r.rows) out.get(row.stream_id.slice('chat-'.length))?.add(row.id);
    return out;
  }

  /** The chat's newest 100 messages as the API serves them from the view; null when it did not come from the view. */
  async #viewPage(chat: ChatAccess): Promise<string[] | null> {
    const res = await fetch(`${this.o.base}/api/chats/${chat.chatId}/messages?limit=100`, { headers: { authorization: `Bearer ${chat.token}` } });
    if (res.status !== 200 || res.headers.get('x-history-source') !== 'cache') {
      await res.body?.cancel();
      return null;
    }
    return ((await res.json()) as { messages: Array<{ messageId: string }> }).messages.map((m) => m.messageId);
  }

  async check(acked: Acked[], opts: { duplicates?: boolean } = {}): Promise<Counts> {
    const ids = acked.map((a) => a.messageId);
    const s = this.o.schema;
    await this.#confirm(this.#inLog, ids, `select event_id::text as id from ${s}.events where event_id = any($1::uuid[])`);
    await this.#confirm(this.#inReadModel, ids, `select message_id as id from ${s}.messages where message_id = any($1::text[])`);
    // The view first, then the log's newest 100: a message that is among them now was among them then.
    const chats = this.o.chats.filter((c) => acked.some((a) => a.chatId === c.chatId));
    const pages = new Map<string, string[] | null>();
    await Promise.all(chats.map(async (c) => void pages.set(c.chatId, await this.#viewPage(c).catch(() => null))));
    const newest = await this.#newest100(chats.map((c) => c.chatId));
    let forView = 0;
    let inView = 0;
    let viewDuplicates = 0;
    for (const c of chats) {
      const page = pages.get(c.chatId) ?? null;
      if (page) viewDuplicates += page.length - new Set(page).size;
      const held = new Set(page ?? []);
      for (const a of acked) {
        if (a.chatId !== c.chatId || !newest.get(c.chatId)!.has(a.messageId)) continue;
        forView += 1;
        if (held.has(a.messageId)) inView += 1;
      }
    }
    const inLog = ids.filter((id) => this.#inLog.has(id)).length;
    const inReadModel = ids.filter((id) => this.#inReadModel.has(id)).length;
    const duplicates = viewDuplicates + (opts.duplicates === false ? 0 : await this.#duplicates());
    return { acked: ids.length, inLog, inReadModel, forView, inView, duplicates, missing: 2 * ids.length - inLog - inReadModel + forView - inView };
  }

  /** `chat audit verify --format json`: ok, and how long it took. */
  async auditVerify(waitSeconds = 30): Promise<{ ok: boolean; ms: number; events: number; detail: string }> {
    const t0 = Date.now();
    const env = { ...process.env, ...this.o.env, LOG_LEVEL: 'error', DATA_DIR: path.join(os.tmpdir(), 'topology-verify') };
    const done = await run(process.execPath, [path.join(ROOT, 'bin/chat.js'), 'audit', 'verify', '--format', 'json', '--wait', String(waitSeconds)],
      { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024, timeout: 180_000 })
      .then((r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }))
      .catch((e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }));
    let events = 0;
    try {
      events = (JSON.parse(done.stdout) as { events: number }).events;
    } catch {
      // not JSON: the detail below says why
    }
    return { ok: done.code === 0, ms: Date.now() - t0, events, detail: done.code === 0 ? '' : `${done.stdout.slice(0, 3000)}\n${done.stderr.slice(-3000)}` };
  }

  /** Scans of the messages table on the replica so far (its own statistics: reads it served). */
  async replicaScans(replicaUrl: string): Promise<number> {
    const c = new pg.Client({ connectionString: replicaUrl });
    await c.connect();
    try {
      const r = await c.query<{ n: number }>(`select coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0)::int as n
        from pg_stat_user_tables where schemaname = $1 and relname = 'messages'`, [this.o.schema]);
      return r.rows[0]!.n;
    } finally {
      await c.end();
    }
  }

  /** Per chat, the revision of its newest event in the log. */
  async heads(): Promise<Map<string, number>> {
    const r = await this.#db.query<{ stream_id: string; revision: number }>(
      `select stream_id, max(revision)::int as revision from ${this.o.schema}.events where stream_id like 'chat-%' group by stream_id`);
    return new Map(r.rows.map((row) => [row.stream_id.slice('chat-'.length), row.revision]));
  }

  close(): Promise<void> {
    return this.#db.end();
  }
}
