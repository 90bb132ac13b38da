// History from a streaming replica (DATABASE_READ_URL) with read-your-writes, on a PostgreSQL primary
// and replica of the test's own (test/support/pg-replica.ts). The replica answers history; with its
// replay held back, a user who just sent a message reads from the primary and sees it while another
// reader still gets the replica's page; a stopped replica leaves history to the primary.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { createCommandBus } from '../../commands/handle-command.js';
import type { CommandDeps } from '../../commands/deps.js';
import { register } from '../../commands/register.js';
import { sendMessage } from '../../commands/send-message.js';
import { startChat } from '../../commands/start-chat.js';
import { readHistory } from '../../gateways/http/history.js';
import { sqlReadModels } from '../../gateways/service/http-read-models.js';
import { replicaReads } from '../../gateways/http/replica-reads.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { createLogger } from '../../infra/logger.js';
import { openReadModelOrm } from '../../infra/read-models/orm.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { createStoreFeed } from '../../projections/runtime/store-feed.js';
import { startPgPair } from '../support/pg-replica.js';
import { stubHasher } from '../support/stub-hasher.js';
import { waitFor } from '../support/wait.js';

t.test('history from the replica, read-your-writes from the primary, the primary when the replica stops', async (t) => {
  const pair = await startPgPair();
  t.teardown(() => pair.stop());
  const logger = createLogger({ level: 'silent', name: 'pg-replica-test' });
  const store = await PostgresEventStore.open({ connectionString: pair.primaryUrl, schema: 'public', poolSize: 5 });
  t.teardown(() => store.close());
  const primaryOrm = await openReadModelOrm({ kind: 'postgresql', connectionString: pair.primaryUrl, schema: 'public' }, logger);
  t.teardown(() => primaryOrm.close(true));
  const feed = createStoreFeed({ store, projector: createSqlProjector({ db: primaryOrm.db, projections: SQL_PROJECTIONS, logger }), logger, lingerMs: 5 });
  await feed.start();
  t.teardown(() => feed.stop());
  // On the replica the migrations are found done (replicated), so nothing is written there.
  const replicaOrm = await openReadModelOrm({ kind: 'postgresql', connectionString: pair.replicaUrl, schema: 'public' }, logger);
  t.teardown(() => replicaOrm.close(true));
  const routed = replicaReads({ primary: sqlReadModels(primaryOrm), replica: sqlReadModels(replicaOrm), logger, retryAfterMs: 200 });

  const deps: CommandDeps = { bus: createCommandBus(store), hasher: stubHasher, clock: () => new Date(), newId: randomUUID };
  const alice = `alice${randomUUID().slice(0, 6)}`;
  const bob = `bob${randomUUID().slice(0, 6)}`;
  for (const username of [alice, bob]) {
    const r = await register(deps, { username, password: 'password123' });
    if (!r.ok) throw new Error(r.error.code);
  }
  const chat = await startChat(deps, { initiatorId: alice, otherUsername: bob });
  if (!chat.ok) throw new Error(chat.error.code);
  const chatId = chat.value.chatId;
  const send = async (senderId: string, body: string) => {
    const r = await sendMessage(deps, { senderId, chatId, body, clientMessageId: randomUUID() });
    if (!r.ok) throw new Error(r.error.code);
    // What the POST route does after a send.
    routed.wrote(senderId, chatId, r.value.revision);
    await feed.waitFor(r.value.position, 15_000);
    return r.value;
  };
  const history = (userId: string) => readHistory({ view: null, reads: sqlReadModels(primaryOrm), chatId, limit: 50, cacheTimeoutMs: 200, replica: { reads: routed, userId } });
  const bodies = async (userId: string) => (await history(userId)).messages.map((m) => m.body);
  const primaryLsn = async () => String((await primaryOrm.em.getConnection().execute('select pg_current_wal_lsn()::text as lsn'))[0]!.lsn);
  const replicaCaughtUp = async () => {
    const target = await primaryLsn();
    const [row] = await replicaOrm.em.getConnection().execute(`select pg_last_wal_replay_lsn() >= '${target}'::pg_lsn as ok`);
    return row!.ok === true;
  };

  await send(alice, 'one');
  await waitFor('the replica replayed the first message', replicaCaughtUp, 15_000);
  let before = routed.stats();
  t.same(await bodies(bob), ['one'], 'bob reads the history');
  t.equal(routed.stats().replica, before.replica + 1, 'from the replica');

  await pair.pauseReplay();
  await send(alice, 'two');
  before = routed.stats();
  t.same(await bodies(alice), ['two', 'one'], 'alice, who just sent "two", sees it');
  t.equal(routed.stats().replicaBehind, before.replicaBehind + 1, 'the replica was behind her send: the primary answered');
  t.same(await bodies(bob), ['one'], 'bob, who sent nothing, gets the replica\'s page, which replication has not reached yet');

  await pair.resumeReplay();
  await waitFor('the replica caught up', replicaCaughtUp, 15_000);
  before = routed.stats();
  t.same(await bodies(alice), ['two', 'one']);
  t.equal(routed.stats().replica, before.replica + 1, 'once the replica has her send, alice reads from it again');

  await pair.stopReplica();
  before = routed.stats();
  await send(bob, 'three');
  t.same(await bodies(bob), ['three', 'two', 'one'], 'with the replica stopped, history is still answered');
  t.same(await bodies(alice), ['three', 'two', 'one']);
  const after = routed.stats();
  t.ok(after.replicaFailed >= 1, 'the replica failed');
  t.equal(after.primary, before.primary + 2, 'and the primary answered both');
});
