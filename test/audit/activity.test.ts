// The activity audit from the event log: the same rows as the activity_log read model (one mapping,
// no drift), filtered, paged through readAll, stopping at the head it started from; unreadable
// events are reported and skipped; the CSV, JSON Lines and table formats.
import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import { userStreamId } from '../../domain/events.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import type { EventStore } from '../../commands/ports/event-store.js';
import { queryActivity } from '../../projections/activity-log.js';
import {
  auditActivity, CSV_HEADER, csvCell, exportActivity, formatCsv, formatJsonl, TABLE_HEADER, type AuditFilter, type AuditRow, type AuditStats, type UnreadableEvent,
} from '../../projections/audit/export.js';
import { settledHead } from '../support/tracked-store.js';
import { dumpTable, onBothStores, writeHistory, type TestReadModels } from '../projections/support.js';
import { project } from './support.js';

async function collect(store: EventStore, filter: AuditFilter = {}, options: Parameters<typeof auditActivity>[2] = {}): Promise<AuditRow[]> {
  const rows: AuditRow[] = [];
  for await (const r of auditActivity(store, filter, options)) rows.push(r);
  return rows;
}

async function sameAsReadModel(t: Test, store: EventStore, rm: TestReadModels): Promise<void> {
  const { users } = await writeHistory(store);
  await project(store, rm.orm);
  const stats: AuditStats[] = [];
  const rows = await collect(store, {}, { pageSize: 4, onProgress: (s) => stats.push({ ...s }) });
  const fromModel = (await dumpTable(rm.orm, 'activity_log')).map((l) => JSON.parse(l) as Record<string, string | null>)
    .map((a) => ({ position: a['position'], eventId: a['event_id'], at: a['at'], userId: a['user_id'], action: a['action'], target: a['target'] }))
    .sort((a, b) => (BigInt(a.position!) < BigInt(b.position!) ? -1 : 1));
  t.same(rows, fromModel, 'row for row what the activity_log projection stored');
  t.ok(stats.length > 3, 'progress per page');
  t.match(stats.at(-1), { scanned: rows.length, matched: rows.length, unreadable: 0 });
  const positions = rows.map((r) => BigInt(r.position));
  t.ok(positions.every((p, i) => i === 0 || p > positions[i - 1]!), 'in log order');

  const alice = users[0]!;
  const from = new Date('2026-01-01T00:00:10Z');
  const to = new Date('2026-01-01T00:00:20Z');
  for (const filter of [{ userId: alice }, { action: 'login' as const }, { from, to }, { userId: alice, action: 'send_message' as const, from }]) {
    const got = await collect(store, filter, { pageSize: 5 });
    const want = rows.filter((r) =>
      (filter.userId === undefined || r.userId === filter.userId) && (!('action' in filter) || r.action === filter.action) &&
      (!('from' in filter) || Date.parse(r.at) >= from.getTime()) && (!('to' in filter) || Date.parse(r.at) < to.getTime()));
    t.same(got, want, `filter ${JSON.stringify(filter)}`);
    t.ok(want.length > 0, 'and it matches something');
    const model = await queryActivity(rm.orm.db, { ...filter, limit: 1000 });
    t.same(model.items.map((a) => a.eventId).sort(), want.map((r) => r.eventId).sort(), 'the read model answers the same');
  }

  const through = BigInt(rows[9]!.position);
  t.same(await collect(store, {}, { pageSize: 4, through }), rows.slice(0, 10), 'stops at the position given (the head at the start, by default)');
  await writeHistory(store, 'later');
  await settledHead(store); // the export reads up to the head, which may trail fresh appends
  t.equal((await collect(store)).length, rows.length * 2, 'a later export sees the later events');
}

onBothStores(t, 'the audit equals the activity read model', { store: 'audit', readModels: 'auditrm' }, sameAsReadModel);

t.test('unreadable events are reported and skipped; other types are not actions', async (t) => {
  const store = EmbeddedEventStore.open({ file: ':memory:' });
  t.teardown(() => store.close());
  await writeHistory(store);
  const bad = randomUUID();
  await store.append(userStreamId('alice'), [{ id: bad, type: 'UserLoggedIn', data: { userId: 'alice', at: 'not a time' }, metadata: { schemaVersion: 1 } }], 'any');
  await store.append(userStreamId('alice'), [{ id: randomUUID(), type: 'UserLoggedIn', data: { userId: 'alice', at: '2026-02-01T00:00:00Z' }, metadata: { schemaVersion: 7 } }], 'any');
  await store.append('system-x', [{ id: randomUUID(), type: 'SomethingNew', data: { x: 1 } }], 'any');
  await store.append(userStreamId('alice'), [{ id: randomUUID(), type: 'UserLoggedOut', data: { userId: 'alice', at: '2026-02-01T00:00:01Z' }, metadata: { schemaVersion: 1 } }], 'any');
  const unreadable: UnreadableEvent[] = [];
  let last: AuditStats | null = null;
  const rows = await collect(store, { userId: 'alice' }, { onUnreadable: (u) => unreadable.push(u), onProgress: (s) => (last = { ...s }) });
  t.same(unreadable.map((u) => [u.eventId, u.type]), [[bad, 'UserLoggedIn'], [unreadable[1]?.eventId, 'UserLoggedIn']]);
  t.match(unreadable[0]!.error, /data\.at must be an ISO-8601 time/);
  t.notMatch(unreadable[0]!.error, /not a time/, 'the error names the field, not its value');
  t.match(unreadable[1]!.error, /unknown version/);
  t.equal(rows.at(-1)!.action, 'logout', 'and the export went on past them');
  t.match(last, { unreadable: 2, scanned: 31 });
});

t.test('formats: JSON Lines, CSV quoting and formula guard, fixed-width table', async (t) => {
  const row: AuditRow = { position: '42', eventId: '00000000-0000-4000-8000-000000000001', at: '2026-01-01T00:00:00.000Z', userId: '-bob', action: 'start_chat', target: '-bob:x,"y"' };
  t.same(JSON.parse(formatJsonl(row)), row);
  t.ok(formatJsonl(row).endsWith('\n'));
  t.equal(CSV_HEADER, 'position,event_id,at,user_id,action,target\r\n');
  t.equal(formatCsv(row), `42,00000000-0000-4000-8000-000000000001,2026-01-01T00:00:00.000Z,'-bob,start_chat,"'-bob:x,""y"""\r\n`);
  t.equal(csvCell('=1+2'), "'=1+2");
  t.equal(csvCell('@a'), "'@a");
  t.equal(csvCell('plain'), 'plain');
  t.match(TABLE_HEADER, /^position\s+event_id\s+at\s+user_id\s+action\s+target\n$/);

  const store = EmbeddedEventStore.open({ file: ':memory:' });
  t.teardown(() => store.close());
  await writeHistory(store);
  let text = '';
  for await (const chunk of exportActivity(store, { action: 'register' }, 'csv')) text += chunk;
  const lines = text.trimEnd().split('\r\n');
  t.equal(lines.length, 5, 'header and four registrations');
  t.match(lines[1], /^1,[0-9a-f-]{36},2026-01-01T00:00:00\.000Z,alice,register,$/);
});
