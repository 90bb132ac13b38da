// Session store contract, run against PostgreSQL (per-test schema) and SQLite (temp file).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import t, { type Test } from 'tap';
import type { SessionPolicy, SessionStore } from '../../gateways/ports/sessions.js';
import { PostgresSessionStore } from '../../infra/sessions/postgres.js';
import { SqliteSessionStore } from '../../infra/sessions/sqlite.js';
import { hashToken } from '../../infra/sessions/tokens.js';
import { createTestSchema } from '../support/pg.js';

const MIN = 60_000;

/** A clock the test moves by hand. */
function manualClock(start = Date.parse('2026-01-01T00:00:00Z')): { clock: () => Date; advance(ms: number): void } {
  let now = start;
  return { clock: () => new Date(now), advance: (ms) => { now += ms; } };
}

type Open = (policy: Partial<SessionPolicy>) => Promise<{
  store: SessionStore;
  /** Another store on the same database, as another process (the API beside a gateway) would open it. */
  another(): Promise<SessionStore>;
  rawDump(): Promise<string>;
  cleanup(): Promise<void>;
}>;

function contract(t: Test, open: Open): void {
  const policy = { idleTimeoutMs: 30 * MIN, absoluteTimeoutMs: 12 * 60 * MIN, touchIntervalMs: MIN, ticketTtlMs: 30_000 };

  t.test('tokens: 256-bit random, only their hash stored, distinct per login', async (t) => {
    const c = manualClock();
    const { store, rawDump, cleanup } = await open({ ...policy, clock: c.clock });
    t.teardown(cleanup);
    const a = await store.create({ userId: 'alice', role: 'user' });
    const b = await store.create({ userId: 'alice', role: 'user' });
    t.match(a.token, /^[A-Za-z0-9_-]{43}$/, '32 bytes base64url');
    t.not(a.token, b.token);
    const dump = await rawDump();
    t.notOk(dump.includes(a.token), 'the token itself is nowhere in the table');
    t.ok(dump.includes(hashToken(a.token)), 'its sha256 is');
    t.same((await store.authenticate(a.token))?.userId, 'alice');
    t.equal(await store.authenticate('x'.repeat(43)), null, 'unknown token');
    t.equal(await store.authenticate('short'), null, 'malformed token');
  });

  t.test('idle expiry: use keeps it alive, 30 min of silence ends it', async (t) => {
    const c = manualClock();
    const { store, cleanup } = await open({ ...policy, clock: c.clock });
    t.teardown(cleanup);
    const { token } = await store.create({ userId: 'bob', role: 'user' });
    for (let i = 0; i < 5; i++) {
      c.advance(20 * MIN);
      t.ok(await store.authenticate(token), `alive after ${(i + 1) * 20} min of steady use`);
    }
    c.advance(30 * MIN);
    t.equal(await store.authenticate(token), null, 'dead after 30 idle minutes');
    c.advance(-30 * MIN);
    t.equal(await store.authenticate(token), null, 'and deleted, not just refused');
  });

  t.test('absolute expiry: 12 h after login even when always in use', async (t) => {
    const c = manualClock();
    const { store, cleanup } = await open({ ...policy, clock: c.clock });
    t.teardown(cleanup);
    const { token, session } = await store.create({ userId: 'carol', role: 'auditor' });
    t.equal(session.absoluteExpiresAt.getTime() - session.createdAt.getTime(), 12 * 60 * MIN);
    for (let elapsed = 0; elapsed < 12 * 60 * MIN - 10 * MIN; elapsed += 10 * MIN) {
      c.advance(10 * MIN);
      if (!(await store.authenticate(token))) t.fail(`died early at ${elapsed}`);
    }
    c.advance(10 * MIN);
    t.equal(await store.authenticate(token), null, 'dead at 12 h');
  });

  t.test('revoke and revokeAllForUser', async (t) => {
    const c = manualClock();
    const { store, cleanup } = await open({ ...policy, clock: c.clock });
    t.teardown(cleanup);
    const one = await store.create({ userId: 'dave', role: 'user' });
    const two = await store.create({ userId: 'dave', role: 'user' });
    const other = await store.create({ userId: 'erin', role: 'user' });
    t.equal(await store.revoke(one.token), true);
    t.equal(await store.revoke(one.token), false, 'second revoke finds nothing');
    t.equal(await store.authenticate(one.token), null);
    t.ok(await store.authenticate(two.token));
    await store.create({ userId: 'dave', role: 'user' });
    t.equal(await store.revokeAllForUser('dave'), 2);
    t.equal(await store.authenticate(two.token), null);
    t.ok(await store.authenticate(other.token), 'other users untouched');
  });

  t.test('ws tickets: single use, 30 s, dead with their session', async (t) => {
    const c = manualClock();
    const { store, rawDump, cleanup } = await open({ ...policy, clock: c.clock });
    t.teardown(cleanup);
    const { token, session } = await store.create({ userId: 'frank', role: 'user' });
    const t1 = await store.issueTicket(session);
    t.equal(t1.expiresAt.getTime() - c.clock().getTime(), 30_000);
    t.notOk((await rawDump()).includes(t1.ticket), 'ticket stored hashed');
    const both = await Promise.all([store.redeemTicket(t1.ticket), store.redeemTicket(t1.ticket)]);
    t.equal(both.filter((r) => r !== null).length, 1, 'two concurrent redeems: one wins');
    t.same(both.find((r) => r !== null), { userId: 'frank', role: 'user', sessionId: session.id });
    t.equal(await store.redeemTicket(t1.ticket), null, 'used up');

    const t2 = await store.issueTicket(session);
    c.advance(30_001);
    t.equal(await store.redeemTicket(t2.ticket), null, 'expired after 30 s');

    const t3 = await store.issueTicket(session);
    await store.revoke(token);
    t.equal(await store.redeemTicket(t3.ticket), null, 'worthless once the session is revoked');

    await store.create({ userId: 'gina', role: 'user' });
    c.advance(13 * 60 * MIN);
    t.ok((await store.purgeExpired()) >= 1, 'purge removes expired rows');
  });

  t.test('liveSessions: the live ones of a list, with the time each has left', async (t) => {
    const c = manualClock();
    const { store, cleanup } = await open({ ...policy, clock: c.clock });
    t.teardown(cleanup);
    const a = await store.create({ userId: 'hal', role: 'user' });
    const b = await store.create({ userId: 'hal', role: 'user' });
    const gone = await store.create({ userId: 'ivy', role: 'user' });
    await store.revoke(gone.token);
    c.advance(10 * MIN);
    t.ok(await store.authenticate(b.token), 'b is used (touched) after 10 min');
    const live = await store.liveSessions([a.session.id, b.session.id, gone.session.id, 'not-a-session-id']);
    t.same([...live.keys()].sort(), [a.session.id, b.session.id].sort(), 'revoked and unknown ids are left out');
    t.equal(live.get(a.session.id), 20 * MIN, 'a: idle timeout minus the 10 min since it was last used');
    t.equal(live.get(b.session.id), 30 * MIN, 'b: a whole idle timeout, it was just used');
    c.advance(20 * MIN);
    t.same([...(await store.liveSessions([a.session.id, b.session.id])).keys()], [b.session.id], 'a has idled out');
    t.same((await store.liveSessions([])).size, 0);
  });

  t.test('touchSessions: use on a socket refreshes live sessions, at most every touch interval, and never revives one', async (t) => {
    const c = manualClock();
    const { store, cleanup } = await open({ ...policy, clock: c.clock });
    t.teardown(cleanup);
    const a = await store.create({ userId: 'jo', role: 'user' });
    const b = await store.create({ userId: 'jo', role: 'user' });
    const old = await store.create({ userId: 'kim', role: 'user' });
    c.advance(10 * MIN);
    await store.touchSessions([a.session.id, 'not-a-session-id']);
    let live = await store.liveSessions([a.session.id, b.session.id]);
    t.equal(live.get(a.session.id), 30 * MIN, 'a: a whole idle timeout again');
    t.equal(live.get(b.session.id), 20 * MIN, 'b: not named, not touched');
    c.advance(MIN / 2);
    await store.touchSessions([a.session.id]);
    t.equal((await store.liveSessions([a.session.id])).get(a.session.id), 29.5 * MIN, 'within the touch interval: no write');
    c.advance(21 * MIN);
    await store.touchSessions([a.session.id, b.session.id]);
    live = await store.liveSessions([a.session.id, b.session.id, old.session.id]);
    t.notOk(live.has(b.session.id), 'b had idled out: touching it does not revive it');
    t.equal(live.get(a.session.id), 30 * MIN, 'a, touched again');
    await store.touchSessions([]);
    // a, used every 20 min: alive until its absolute expiry, and not a moment after.
    let aliveUntil = 0;
    for (let m = 31.5; m <= 13 * 60; m += 20) {
      c.advance(20 * MIN);
      await store.touchSessions([a.session.id]);
      if ((await store.liveSessions([a.session.id])).has(a.session.id)) aliveUntil = m + 20;
    }
    t.ok(aliveUntil > 11 * 60 && aliveUntil <= 12 * 60, `used, a lived until its absolute expiry (${aliveUntil} min)`);
  });

  t.test('onSessionsEnded: revocations through any store on the same database are announced', async (t) => {
    const c = manualClock();
    const { store, another, cleanup } = await open({ ...policy, clock: c.clock });
    t.teardown(cleanup);
    const api = await another();
    const ended: string[] = [];
    let readies = 0;
    const unsubscribe = store.onSessionsEnded({ ended: (ids) => ended.push(...ids), ready: () => { readies++; }, lost: () => undefined });
    const waitFor = async (label: string, cond: () => boolean): Promise<void> => {
      for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
      t.ok(cond(), label);
    };
    await waitFor('the signal becomes ready', () => readies === 1);
    const one = await api.create({ userId: 'jo', role: 'user' });
    const two = await api.create({ userId: 'jo', role: 'user' });
    const three = await api.create({ userId: 'jo', role: 'user' });
    await api.revoke(one.token);
    await waitFor('revoke is announced', () => ended.includes(one.session.id));
    await api.revokeAllForUser('jo');
    await waitFor('revokeAllForUser announces each session', () => ended.includes(two.session.id) && ended.includes(three.session.id));
    t.equal(await api.revoke(one.token), false);
    unsubscribe();
    await api.revoke((await api.create({ userId: 'jo', role: 'user' })).token);
    await new Promise((r) => setTimeout(r, 100));
    t.equal(ended.length, 3, 'nothing for a revoke that found nothing, nothing after unsubscribing');
    await api.close();
  });
}

t.test('PostgreSQL', async (t) => {
  contract(t, async (policy) => {
    const schema = await createTestSchema('sess');
    const store = await PostgresSessionStore.open({ connectionString: schema.url, schema: schema.schema, policy });
    // Opening twice is harmless (idempotent, lock-protected creation).
    await (await PostgresSessionStore.open({ connectionString: schema.url, schema: schema.schema, policy })).close();
    return {
      store,
      another: () => PostgresSessionStore.open({ connectionString: schema.url, schema: schema.schema, policy }),
      async rawDump() {
        const c = new pg.Client({ connectionString: schema.url });
        await c.connect();
        const s = await c.query(`SELECT * FROM "${schema.schema}".sessions`);
        const w = await c.query(`SELECT * FROM "${schema.schema}".ws_tickets`);
        await c.end();
        return JSON.stringify([s.rows, w.rows]);
      },
      async cleanup() { await store.close(); await schema.drop(); },
    };
  });
});

t.test('SQLite', async (t) => {
  contract(t, async (policy) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'chat-sess-'));
    const file = path.join(dir, 'sessions.sqlite');
    const store = SqliteSessionStore.open({ file, policy });
    return {
      store,
      another: async () => SqliteSessionStore.open({ file, policy }),
      async rawDump() {
        // The raw bytes of the database and its WAL: nothing may hold a plain token.
        const read = (f: string) => { try { return readFileSync(f).toString('latin1'); } catch { return ''; } };
        return read(file) + read(`${file}-wal`);
      },
      async cleanup() { await store.close(); rmSync(dir, { recursive: true, force: true }); },
    };
  });
});
