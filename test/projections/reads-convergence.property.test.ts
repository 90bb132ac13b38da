// Property for the reads projection: whatever the delivery order, duplication and batching, even with
// two projectors at once (PostgreSQL, READ COMMITTED), read positions and unread counts end up equal
// to in-order application. The log interleaves messages from both sides with marks that move forward
// and marks at or below the current one (which the domain turns into no event).
import fc from 'fast-check';
import t from 'tap';
import { markRead } from '../../commands/mark-read.js';
import { sendMessage } from '../../commands/send-message.js';
import { startChat } from '../../commands/start-chat.js';
import { register } from '../../commands/register.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import type { PublicRecord } from '../../projections/ports/public-record.js';
import { readsProjection } from '../../projections/reads.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { deliver, deliverPlanned, deliveryPlans } from '../support/delivery-plan.js';
import { depsWithClock, dumpAll, pgReadModels, readAllRecords, silentLogger, truncateAll } from './support.js';

const TABLES = ['read_positions', 'unread_messages'];

async function readsHistory(): Promise<PublicRecord[]> {
  const store = await EmbeddedEventStore.open({ file: ':memory:' });
  try {
    const deps = depsWithClock(store);
    for (const u of ['ann', 'ben', 'cat']) await register(deps, { username: u, password: 'password1' });
    const chats = [(await startChat(deps, { initiatorId: 'ann', otherUsername: 'ben' })), (await startChat(deps, { initiatorId: 'cat', otherUsername: 'ben' }))]
      .map((r) => (r.ok ? r.value.chatId : ''));
    const people: Record<string, [string, string]> = { [chats[0]!]: ['ann', 'ben'], [chats[1]!]: ['ben', 'cat'] };
    let n = 0;
    for (let i = 0; i < 24; i++) {
      const chatId = chats[i % 2]!;
      const [x, y] = people[chatId]!;
      const sent = await sendMessage(deps, { senderId: i % 3 === 0 ? y : x, chatId, body: `m${i}`, clientMessageId: `c${n++}` });
      if (i % 4 === 3 && sent.ok) {
        await markRead(deps, { readerId: x, chatId, upToRevision: sent.value.revision - (i % 8 === 3 ? 1 : 0) });
        await markRead(deps, { readerId: y, chatId, upToRevision: Math.max(1, sent.value.revision - 4) });
      }
    }
    return (await readAllRecords(store)).filter((r) => r.type === 'MessageSent' || r.type === 'ChatRead');
  } finally {
    await store.close();
  }
}

t.test('reads: any order, duplicates, batch sizes and two projectors converge', async (t) => {
  const rm = await pgReadModels('readsconv');
  t.teardown(() => rm.close());
  const records = await readsHistory();
  const n = records.length;
  t.ok(records.filter((r) => r.type === 'ChatRead').length >= 8, 'the log holds reads');

  await deliver(createSqlProjector({ db: rm.orm.db, projections: [readsProjection], logger: silentLogger }), records);
  const expected = await dumpAll(rm.orm, TABLES);
  t.ok(expected['unread_messages']!.length > 0, 'some messages stay unread');

  let runs = 0;
  await fc.assert(
    fc.asyncProperty(deliveryPlans(n, 9), async (plan) => {
      runs++;
      await truncateAll(rm.orm);
      await deliverPlanned(records, plan, () => createSqlProjector({ db: rm.orm.db, projections: [readsProjection], logger: silentLogger }));
      const actual = await dumpAll(rm.orm, TABLES);
      for (const table of TABLES) {
        if (JSON.stringify(actual[table]) !== JSON.stringify(expected[table])) {
          t.same(actual[table], expected[table], `table ${table} differs`);
          return false;
        }
      }
      return true;
    }),
    { numRuns: 25 },
  );
  t.ok(runs >= 25, 'ran the property');
});
