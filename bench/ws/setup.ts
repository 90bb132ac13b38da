// The benchmark's users, sessions and chats, written straight into a fresh PostgreSQL schema
// (bench/ws, bench/e2e): N pairs, one chat each, every user with a session token.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createCommandBus } from '../../commands/handle-command.js';
import type { CommandDeps } from '../../commands/deps.js';
import { register } from '../../commands/register.js';
import { startChat } from '../../commands/start-chat.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { PostgresSessionStore } from '../../infra/sessions/postgres.js';
import type { BenchPair } from './common.js';

export interface BenchSetup {
  pairs: BenchPair[];
  /** Drops the schema. */
  close(): Promise<void>;
}

export async function dropSchema(db: string, schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: db });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await c.end();
}

export async function setupPairs(db: string, schema: string, count: number): Promise<BenchSetup> {
  const admin = new pg.Client({ connectionString: db });
  await admin.connect();
  await admin.query(`CREATE SCHEMA "${schema}"`);
  await admin.end();
  const store = await PostgresEventStore.open({ connectionString: db, schema, poolSize: 8 });
  const sessions = await PostgresSessionStore.open({ connectionString: db, schema });
  // Registration is not measured: a stub hasher keeps setup fast.
  const commands: CommandDeps = {
    bus: createCommandBus(store),
    hasher: { hash: async () => '$stub$', verify: async () => false, needsRehash: () => false, verifyDummy: async () => undefined },
    clock: () => new Date(),
    newId: randomUUID,
  };
  const pairs: BenchPair[] = [];
  for (let i = 0; i < count; i += 10) {
    pairs.push(...await Promise.all(Array.from({ length: Math.min(10, count - i) }, async (_, k) => {
      const n = i + k;
      const names = [`ua${n}`, `ub${n}`];
      const users = await Promise.all(names.map(async (name) => {
        const r = await register(commands, { username: name, password: 'password123' });
        if (!r.ok) throw new Error(r.error.code);
        const { token } = await sessions.create({ userId: r.value.userId, role: 'user' });
        return { userId: r.value.userId, token };
      }));
      const chat = await startChat(commands, { initiatorId: users[0]!.userId, otherUsername: users[1]!.userId });
      if (!chat.ok) throw new Error(chat.error.code);
      return { chatId: chat.value.chatId, a: users[0]!, b: users[1]! };
    })));
  }
  await sessions.close();
  await store.close();
  return { pairs, close: () => dropSchema(db, schema) };
}
