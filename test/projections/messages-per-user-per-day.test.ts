// The worked example, messages per user per UTC day, through the projection kit: counts by
// distinct message id, so redelivery, re-application and any order converge; plus its query.
import t from 'tap';
import { messageCountsPerDay } from '../../projections/messages-per-user-per-day.js';
import { messagesPerUserPerDayProjection } from '../../projections/messages-per-user-per-day.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { kitRecords, projectionKit } from '../support/projection-kit.js';
import { m, messageSent, messageSentV1 } from './kit-events.js';
import { pgReadModels, silentLogger, sqliteReadModels } from './support.js';

const ab = 'alice:bob';
const msg = (n: number, senderId: string, sentAt: string) => messageSent({ chatId: ab, senderId, body: `m${n}`, sentAt, messageId: m(n) });

const history = [
  msg(1, 'alice', '2026-01-01T00:00:00Z'),
  msg(2, 'alice', '2026-01-01T23:59:59.999Z'),
  msg(3, 'bob', '2026-01-01T12:00:00Z'),
  msg(4, 'alice', '2026-01-02T00:00:00Z'), // the next UTC day
  messageSentV1({ chatId: ab, senderId: 'bob', body: 'v1', sentAt: '2026-01-02T01:00:00+02:00', messageId: m(5) }), // 2026-01-01 in UTC
  { ...msg(1, 'alice', '2026-01-01T00:00:00Z'), id: '00000000-0000-4000-8000-0000000000ff' }, // the same message under another event id
];

t.test('messages-per-user-per-day: counts by distinct message id per UTC day', async (t) => {
  const { given } = projectionKit(t, messagesPerUserPerDayProjection);
  await given(history).then({
    message_counts: [
      { user_id: 'alice', day: '2026-01-01', count: 2 },
      { user_id: 'alice', day: '2026-01-02', count: 1 },
      { user_id: 'bob', day: '2026-01-01', count: 2 },
    ],
  }, 'midnight boundaries in UTC; an old-version message counts; one message counts once');

  await given([
    msg(1, 'alice', '2026-01-01T00:00:00Z'),
    { type: 'MessageSent', version: 2, data: { chatId: ab, messageId: m(2), senderId: 'alice', clientMessageId: 'x', body: 'b', sentAt: 'soon' } },
  ]).thenParks(/data\.sentAt must be an ISO-8601 time/, { message_counts: [{ user_id: 'alice', day: '2026-01-01', count: 1 }] });
});

for (const [label, open] of [['sqlite', sqliteReadModels], ['postgresql', () => pgReadModels('mcq')]] as const) {
  t.test(`${label}: the query reads a user's days, oldest first, within an inclusive range`, async (t) => {
    const rm = await open();
    t.teardown(() => rm.close());
    const projector = createSqlProjector({ db: rm.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger });
    const more = [3, 5, 9].map((d, i) => msg(10 + i, 'alice', `2026-01-0${d}T10:00:00Z`));
    t.same((await projector.applyBatch(kitRecords([...history, ...more]))).failed, []);
    t.same(await messageCountsPerDay(rm.orm.db, { userId: 'alice' }), [
      { day: '2026-01-01', count: 2 }, { day: '2026-01-02', count: 1 }, { day: '2026-01-03', count: 1 }, { day: '2026-01-05', count: 1 }, { day: '2026-01-09', count: 1 },
    ]);
    t.same(await messageCountsPerDay(rm.orm.db, { userId: 'alice', from: '2026-01-02', to: '2026-01-05' }), [
      { day: '2026-01-02', count: 1 }, { day: '2026-01-03', count: 1 }, { day: '2026-01-05', count: 1 },
    ], 'both ends inclusive');
    t.same(await messageCountsPerDay(rm.orm.db, { userId: 'nobody' }), []);
    await t.rejects(messageCountsPerDay(rm.orm.db, { userId: 'alice', from: '2026-02-30' }), { name: 'InvalidQueryError' });
    await t.rejects(messageCountsPerDay(rm.orm.db, { userId: 'alice', from: '2026-01-05', to: '2026-01-01' }), { name: 'InvalidQueryError' });
  });
}
