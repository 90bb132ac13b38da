// The whole read side on the real services: after the deployment's Redis keys are wiped (what a
// FLUSHALL or a restart without persistence does to it), the last-100 view is rebuilt from the log
// and equals the last 100 rows of the PostgreSQL messages table for every chat.
import t from 'tap';
import { register } from '../../commands/register.js';
import { sendMessage } from '../../commands/send-message.js';
import { startChat } from '../../commands/start-chat.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { RedisLastMessagesView } from '../../infra/last-messages/redis.js';
import { chatHistory } from '../../projections/messages.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { LastMessagesProjection } from '../../projections/last-messages.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { createStoreFeed } from '../../projections/runtime/store-feed.js';
import { depsFor } from '../commands/suite.js';
import { deletePrefix, newPrefix, TEST_REDIS_URL, waitFor } from '../support/last-messages.js';
import { pgReadModels, silentLogger } from '../projections/support.js';

t.test('Redis view rebuilt after a flush equals the last 100 PostgreSQL rows of every chat', async (t) => {
  const rm = await pgReadModels('rv');
  const store = await PostgresEventStore.open({ connectionString: rm.url!, schema: rm.where });
  const prefix = newPrefix('rv');
  const view = new RedisLastMessagesView({ url: TEST_REDIS_URL, keyPrefix: prefix, commandTimeoutMs: 10_000, logger: silentLogger });
  const projection = new LastMessagesProjection({ store, view, logger: silentLogger, epochCheckMs: 200 });
  const feed = createStoreFeed({ store, projector: createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger }), logger: silentLogger });
  t.teardown(async () => {
    await projection.stop();
    await feed.stop();
    await view.close();
    await deletePrefix(prefix);
    await store.close();
    await rm.close();
  });
  projection.start();
  feed.start();

  const deps = depsFor(store);
  const users = ['ana', 'bo', 'cy', 'di'].map((u) => `${u}${prefix.slice(-9, -1)}`);
  for (const u of users) t.ok((await register(deps, { username: u, password: 'password123' })).ok);
  const chats: string[] = [];
  for (const [a, b] of [[0, 1], [0, 2], [2, 3]] as const) {
    const r = await startChat(deps, { initiatorId: users[a]!, otherUsername: users[b]! });
    if (r.ok) chats.push(r.value.chatId);
  }
  const sizes = [130, 40, 3];
  let last = 0n;
  for (const [i, chatId] of chats.entries()) {
    const [a, b] = chatId.split(':') as [string, string];
    for (let n = 0; n < sizes[i]!; n++) {
      const r = await sendMessage(deps, { senderId: n % 2 ? a : b, chatId, body: `m${n}`, clientMessageId: `k${n}` });
      if (r.ok) last = r.value.position;
    }
  }
  await feed.waitFor(last, 60_000);

  const sameAsPostgres = async (): Promise<boolean> => {
    for (const chatId of chats) {
      const page = await view.read(chatId, { limit: 100 });
      const rows = (await chatHistory(rm.orm.db, { chatId, limit: 100 })).items.reverse();
      if (!page || !page.complete) return false;
      const fromView = page.messages.map((m) => `${m.revision}:${m.messageId}:${m.body}`);
      const fromPg = rows.map((r) => `${r.revision}:${r.messageId}:${r.body}`);
      if (JSON.stringify(fromView) !== JSON.stringify(fromPg)) return false;
    }
    return true;
  };
  await waitFor('view equals PostgreSQL', sameAsPostgres, 30_000);
  const epochBefore = await view.epoch();
  t.ok(epochBefore, 'the view has an epoch');

  await deletePrefix(prefix); // FLUSHALL, as far as this deployment's keys go
  await waitFor('view rebuilt after the flush', async () => (await view.epoch()) !== null && (await view.epoch()) !== epochBefore, 30_000);
  await waitFor('rebuilt view equals PostgreSQL', sameAsPostgres, 30_000);
  t.not(await view.epoch(), epochBefore, 'readers can tell the rebuilt view by its new epoch');
  const biggest = await view.read(chats[0]!, { limit: 200 });
  t.equal(biggest?.messages.length, 100, 'never more than 100 per chat');
  t.equal(biggest?.messages[0]?.revision, 31, 'the newest 100 of 130 messages (revisions 31..130)');
});
