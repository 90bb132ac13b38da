// The read side of a topology under bench/e2e: how many messages its PostgreSQL messages table and
// its Redis last-100 view hold now (sampled during the run to measure lag), and, at the end, whether
// they hold every acknowledged message exactly once.
import type { Redis } from 'ioredis';
import type pg from 'pg';

export interface Visible {
  pg: number;
  /** null: the view is written before the ack (the seed's LPUSH), so it cannot lag. */
  redis: number | null;
}

export interface Consistency {
  /** Acknowledged sends without a row, and rows beyond the first per (chat, clientMessageId). */
  pgLost: number;
  pgDuplicated: number;
  /** Rows of sends that were never acknowledged (the ack was lost or refused): not an error. */
  pgUnacked: number;
  /** Per chat, acknowledged messages missing from the view's newest 100, and entries held twice. */
  redisLost: number;
  redisDuplicated: number;
}

export interface ReadSide {
  visible(): Promise<Visible>;
  check(acked: ReadonlyMap<string, ReadonlySet<string>>): Promise<Consistency>;
}

const VIEW_CAPACITY = 100;

/** Compares per-chat clientMessageIds held by the view with the acknowledged ones. */
function compareView(acked: ReadonlyMap<string, ReadonlySet<string>>, held: ReadonlyMap<string, string[]>): { lost: number; duplicated: number } {
  let lost = 0;
  let duplicated = 0;
  for (const [chatId, ids] of acked) {
    const entries = held.get(chatId) ?? [];
    const distinct = new Set(entries);
    duplicated += entries.length - distinct.size;
    if (ids.size <= VIEW_CAPACITY) {
      for (const id of ids) if (!distinct.has(id)) lost++;
    } else {
      // More than the view keeps: it must be full of acknowledged messages (which 100 are newest
      // depends on the order the store gave them, not on the order the generator sent them).
      let known = 0;
      for (const id of distinct) if (ids.has(id)) known++;
      lost += Math.max(0, VIEW_CAPACITY - known);
    }
  }
  return { lost, duplicated };
}

async function pgRows(db: pg.Client, table: string, acked: ReadonlyMap<string, ReadonlySet<string>>): Promise<Pick<Consistency, 'pgLost' | 'pgDuplicated' | 'pgUnacked'>> {
  const { rows } = await db.query<{ chat_id: string; client_message_id: string; n: number }>(
    `SELECT chat_id, client_message_id, count(*)::int AS n FROM ${table} GROUP BY 1, 2`,
  );
  const seen = new Map<string, number>();
  for (const r of rows) seen.set(`${r.chat_id}\u0000${r.client_message_id}`, r.n);
  let pgLost = 0;
  let pgDuplicated = 0;
  let matched = 0;
  for (const [chatId, ids] of acked) {
    for (const id of ids) {
      const n = seen.get(`${chatId}\u0000${id}`) ?? 0;
      if (n === 0) pgLost++;
      else matched++;
    }
  }
  for (const r of rows) if (r.n > 1) pgDuplicated += r.n - 1;
  return { pgLost, pgDuplicated, pgUnacked: rows.length - matched };
}

const quote = (schema: string): string => `"${schema.replace(/"/g, '""')}"`;

/** Ours: the messages projection's table and the Redis view (sorted sets of the newest 100 per chat). */
export function oursReadSide(db: pg.Client, redis: Redis, schema: string, redisPrefix: string, chatIds: readonly string[]): ReadSide & { baseline(): Promise<void> } {
  const table = `${quote(schema)}.messages`;
  const lastKeys = chatIds.map((c) => `${redisPrefix}view:chat:${c}:last`);
  // A chat's last revision counts every event of its stream; the ChatStarted ones are taken off.
  let base = 0;
  const revisions = async (): Promise<number> => (await redis.mget(...lastKeys)).reduce((s, v) => s + Number(v ?? 0), 0);
  return {
    async baseline() {
      base = await revisions();
    },
    async visible() {
      const [{ rows }, redisSum] = await Promise.all([db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`), revisions()]);
      return { pg: rows[0]!.n, redis: redisSum - base };
    },
    async check(acked) {
      const held = new Map<string, string[]>();
      const pipe = redis.pipeline();
      for (const c of chatIds) pipe.zrange(`${redisPrefix}view:chat:${c}:messages`, '0', '-1');
      const replies = (await pipe.exec()) ?? [];
      chatIds.forEach((c, i) => held.set(c, ((replies[i]?.[1] as string[] | undefined) ?? []).map((m) => (JSON.parse(m) as { clientMessageId: string }).clientMessageId)));
      const view = compareView(acked, held);
      return { ...await pgRows(db, table, acked), redisLost: view.lost, redisDuplicated: view.duplicated };
    },
  };
}

/** The seed's architecture: the worker's messages table and the server's Redis lists. */
export function seedReadSide(db: pg.Client, redis: Redis, schema: string, redisPrefix: string, chatIds: readonly string[]): ReadSide {
  const table = `${quote(schema)}.seed_messages`;
  return {
    async visible() {
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
      return { pg: rows[0]!.n, redis: null };
    },
    async check(acked) {
      const held = new Map<string, string[]>();
      const pipe = redis.pipeline();
      for (const c of chatIds) pipe.lrange(`${redisPrefix}chat:${c}`, '0', '-1');
      const replies = (await pipe.exec()) ?? [];
      chatIds.forEach((c, i) => held.set(c, ((replies[i]?.[1] as string[] | undefined) ?? []).map((m) => (JSON.parse(m) as { clientMessageId: string }).clientMessageId)));
      const view = compareView(acked, held);
      return { ...await pgRows(db, table, acked), redisLost: view.lost, redisDuplicated: view.duplicated };
    },
  };
}
