// The projector process (broker consumer + SQL projections) killed with SIGKILL three times while
// 10,000 messages over 100 chats flow through it. Acks follow commits, so a kill can leave a batch
// committed but unacked, never acked but uncommitted: it causes redeliveries only, which the
// projections' inbox turns into no-ops. Afterwards the read models must be exact.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import t from 'tap';
import { chatIdFor } from '../../domain/chat-id.js';
import { chatStreamId, type ChatStarted, type MessageSent } from '../../domain/events.js';
import { toEventData } from '../../commands/ports/codec.js';
import { killHard, queueDepth, spawnRunner, stopGently, waitFor, type Child } from '../support/broker.js';
import { brokerWorld } from '../support/broker-fixture.js';

const CHATS = 100;
const MESSAGES_PER_CHAT = 100;
const TOTAL = CHATS * MESSAGES_PER_CHAT;
const PROJECTOR_SCRIPT = 'test/support/run-projector.ts';

interface Chat {
  id: string;
  a: string;
  b: string;
  /** Message ids in send order: message i has stream revision i + 1 (ChatStarted is revision 0). */
  messages: string[];
}

t.test('projector SIGKILLed three times: exactly 10,000 messages, in revision order, no duplicates', async (t) => {
  const w = await brokerWorld(t, { label: 'proj_kill' });
  const db = new pg.Pool({ connectionString: w.schema.url, max: 2 });
  db.on('error', () => undefined);
  t.teardown(() => db.end());
  const count = async (table: string): Promise<number> => {
    try {
      const res = await db.query<{ n: string }>(`SELECT count(*) AS n FROM "${w.schema.schema}".${table}`);
      return Number(res.rows[0]?.n ?? 0);
    } catch (err) {
      if ((err as { code?: unknown }).code === '42P01') return 0; // the projector has not migrated yet
      throw err;
    }
  };

  // The log: 100 chats, each started, then 100 messages, appended by four writers in chunks of 10.
  const chats: Chat[] = Array.from({ length: CHATS }, () => {
    const a = randomUUID();
    const b = randomUUID();
    return { id: chatIdFor(a, b), a, b, messages: [] };
  });
  const relay = w.relay('relay');
  relay.start();
  const t0 = Date.now();
  const append = async (chat: Chat): Promise<void> => {
    const at = new Date().toISOString();
    const started: ChatStarted = { type: 'ChatStarted', version: 1, data: { chatId: chat.id, participants: [chat.a, chat.b], startedBy: chat.a, at } };
    await w.store.append(chatStreamId(chat.id), [toEventData(started, randomUUID())], 'no_stream');
    for (let chunk = 0; chunk < MESSAGES_PER_CHAT / 10; chunk++) {
      const events = Array.from({ length: 10 }, (_, i) => {
        const n = chunk * 10 + i;
        const messageId = randomUUID();
        chat.messages.push(messageId);
        const sent: MessageSent = {
          type: 'MessageSent',
          version: 2,
          data: { chatId: chat.id, messageId, senderId: n % 2 ? chat.b : chat.a, clientMessageId: randomUUID(), body: `message ${n}`, sentAt: at },
        };
        return toEventData(sent, randomUUID());
      });
      await w.store.append(chatStreamId(chat.id), events, chunk * 10);
    }
  };
  const writers = Array.from({ length: 4 }, async (_, k) => {
    for (let c = k; c < CHATS; c += 4) await append(chats[c]!);
  });

  // The projector, killed three times at random points of its progress and restarted.
  let projector: Child = spawnRunner(PROJECTOR_SCRIPT, w.env);
  w.onCleanup(() => killHard(projector));
  // Each kill waits for the new process to make real progress (a random 500-2,500 more rows), so no
  // kill lands before the process consumed anything; three of them stay below 10,000.
  let projected = 0;
  for (let i = 0; i < 3; i++) {
    const threshold = projected + 500 + Math.floor(Math.random() * 2000);
    await waitFor(`${threshold} message rows before kill ${i + 1}`, async () => (await count('messages')) >= threshold, 60_000, 10).catch(
      (err: Error) => {
        throw new Error(`${err.message}\n${projector.stderr()}`);
      },
    );
    await killHard(projector);
    projected = await count('messages');
    t.comment(`kill ${i + 1} at ${projected} message rows (${Date.now() - t0} ms)`);
    projector = spawnRunner(PROJECTOR_SCRIPT, w.env);
  }
  t.ok(projected < TOTAL, 'every kill happened mid-stream');
  await Promise.all(writers);

  await waitFor('10,000 message rows', async () => (await count('messages')) >= TOTAL, 90_000, 100).catch((err: Error) => {
    throw new Error(`${err.message}\n${projector.stderr()}`);
  });
  await waitFor('10,100 activity rows', async () => (await count('activity_log')) >= TOTAL + CHATS, 30_000, 100);
  await waitFor('queue drained', async () => (await queueDepth(w.topology.projectorQueue)) === 0, 30_000, 100);
  await new Promise((r) => setTimeout(r, 300)); // a late duplicate would land now
  t.comment(`all projected in ${Date.now() - t0} ms`);

  const s = `"${w.schema.schema}"`;
  t.equal(await count('messages'), TOTAL, 'exactly 10,000 message rows');
  const distinctMessages = await db.query<{ n: string }>(`SELECT count(DISTINCT message_id) AS n FROM ${s}.messages`);
  t.equal(Number(distinctMessages.rows[0]?.n), TOTAL, 'no message twice');
  t.equal(await count('activity_log'), TOTAL + CHATS, 'one activity row per ChatStarted and MessageSent');
  const activity = await db.query<{ action: string; n: string }>(`SELECT action, count(DISTINCT event_id) AS n FROM ${s}.activity_log GROUP BY action ORDER BY action`);
  t.same(
    activity.rows.map((r) => [r.action, Number(r.n)]),
    [['send_message', TOTAL], ['start_chat', CHATS]],
    'activity rows match the events, each once',
  );

  const rows = await db.query<{ chat_id: string; revision: number; message_id: string }>(
    `SELECT chat_id, revision, message_id FROM ${s}.messages ORDER BY chat_id, revision`,
  );
  const byChat = new Map<string, Array<{ revision: number; message_id: string }>>();
  for (const r of rows.rows) {
    const list = byChat.get(r.chat_id) ?? [];
    list.push(r);
    byChat.set(r.chat_id, list);
  }
  const misordered = chats.filter((c) => {
    const got = byChat.get(c.id) ?? [];
    return got.length !== c.messages.length || got.some((r, i) => r.revision !== i + 1 || r.message_id !== c.messages[i]);
  });
  t.equal(misordered.length, 0, 'per chat, message order equals stream revision order');
  t.equal(await count('dead_letters'), 0, 'nothing parked');
  t.equal(await queueDepth(w.topology.deadLetterQueue), 0, 'nothing dead-lettered by the broker');

  await stopGently(projector);
  t.equal(projector.proc.exitCode, 0, 'the last projector stops cleanly on SIGTERM');
});
