// The process's shared LISTEN connection (infra/pg-listen.ts): one backend for every channel, so a
// notifying commit wakes one backend per process instead of one per store.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import t from 'tap';
import { LISTEN_APPLICATION_NAME, listen, type ChannelListener } from '../../infra/pg-listen.js';
import { PostgresEventStore } from '../../infra/event-store/postgres.js';
import { channelFor } from '../../infra/event-store/postgres/sql.js';
import { PostgresSessionStore } from '../../infra/sessions/postgres.js';
import { TEST_DATABASE_URL, createTestSchema } from '../support/pg.js';
import { waitFor } from '../support/wait.js';

const LONG = 60_000;
const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
await admin.connect();
t.teardown(() => admin.end());

/** The pids of listener connections whose last statement names `channel`. */
async function listenersOf(channel: string): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND strpos(query, $2) > 0',
    [LISTEN_APPLICATION_NAME, `LISTEN "${channel}"`],
  );
  return rows.map((r) => r.pid);
}

interface Recorder extends ChannelListener {
  got: string[];
  readies: number;
  losses: number;
}

const recorder = (): Recorder => {
  const r: Recorder = {
    got: [], readies: 0, losses: 0,
    notify: (p) => void r.got.push(p),
    ready: () => void r.readies++,
    lost: () => void r.losses++,
  };
  return r;
};

const channel = (label: string): string => `t_listen_${label}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;

t.test('one connection carries every channel; a killed one comes back; the last to stop closes it', async (t) => {
  const [a, b] = [channel('a'), channel('b')];
  const [a1, a2, b1] = [recorder(), recorder(), recorder()];
  const stopA1 = listen(TEST_DATABASE_URL, a, a1);
  const stopA2 = listen(TEST_DATABASE_URL, a, a2);
  const stopB1 = listen(TEST_DATABASE_URL, b, b1);
  await waitFor('every listener is ready', () => a1.readies === 1 && a2.readies === 1 && b1.readies === 1, LONG);
  await waitFor('one backend LISTENs on both channels', async () => {
    const [pa, pb] = [await listenersOf(a), await listenersOf(b)];
    return pa.length === 1 && pb.length === 1 && pa[0] === pb[0];
  }, LONG);

  await admin.query(`SELECT pg_notify($1, 'x'), pg_notify($2, 'y')`, [a, b]);
  await waitFor('each channel reaches its own listeners', () => a1.got.length === 1 && a2.got.length === 1 && b1.got.length === 1, LONG);
  t.same([a1.got, a2.got, b1.got], [['x'], ['x'], ['y']]);

  const [killed] = await listenersOf(a);
  await admin.query('SELECT pg_terminate_backend($1)', [killed]);
  await waitFor('the loss is told, then the new connection is ready', () => [a1, a2, b1].every((r) => r.losses === 1 && r.readies === 2), LONG);
  const [now] = await listenersOf(b);
  t.not(now, killed, 'a new backend');
  await admin.query(`SELECT pg_notify($1, 'z')`, [b]);
  await waitFor('notifications flow again', () => b1.got.length === 2, LONG);

  await stopA1();
  await admin.query(`SELECT pg_notify($1, 'w')`, [a]);
  await waitFor('the other listener of the channel still hears it', () => a2.got.length === 2, LONG);
  t.same(a1.got, ['x'], 'a stopped listener hears nothing more');

  await stopA2();
  await stopB1();
  await waitFor('the connection is closed with its last listener', async () => (await listenersOf(b)).length === 0, LONG);
});

t.test('a channel wanted again while its UNLISTEN is on the wire is told lost, LISTENed again, and hears', async () => {
  const [a, b] = [channel('a'), channel('b')];
  const [keeper, first, second] = [recorder(), recorder(), recorder()];
  const stopKeeper = listen(TEST_DATABASE_URL, b, keeper); // keeps the connection open
  const stopFirst = listen(TEST_DATABASE_URL, a, first);
  await waitFor('both channels are ready', () => keeper.readies === 1 && first.readies === 1, LONG);
  const stopping = stopFirst(); // sends UNLISTEN a
  const stopSecond = listen(TEST_DATABASE_URL, a, second); // in the same tick: a still counts as LISTENed
  await stopping;
  await waitFor('the second listener is told of the gap, then ready again', () => second.losses === 1 && second.readies === 2, LONG);
  await admin.query(`SELECT pg_notify($1, 'after')`, [a]);
  await waitFor('it hears the channel', () => second.got.includes('after'), LONG);
  await stopSecond();
  await stopKeeper();
});

t.test('the event store and the sessions store of a process share one LISTEN connection', async (t) => {
  const ts = await createTestSchema('listen');
  t.teardown(() => ts.drop());
  const store = await PostgresEventStore.open({ connectionString: ts.url, schema: ts.schema, poolSize: 2 });
  t.teardown(() => store.close());
  const sessions = await PostgresSessionStore.open({ connectionString: ts.url, schema: ts.schema });
  t.teardown(() => sessions.close());

  const sub = store.subscribeToAll({ after: await store.headPosition() });
  t.teardown(() => sub.stop());
  let ready = false;
  const ended: string[] = [];
  const off = sessions.onSessionsEnded({ ended: (ids) => void ended.push(...ids), ready: () => { ready = true; }, lost: () => undefined });
  t.teardown(off);
  await waitFor('the session-ended signal is ready', () => ready, LONG);
  const events = channelFor(ts.schema);
  const listeners = async (): Promise<string[]> =>
    (
      await admin.query<{ query: string }>(
        'SELECT query FROM pg_stat_activity WHERE application_name = $1 AND strpos(query, $2) > 0',
        [LISTEN_APPLICATION_NAME, `LISTEN "${events}"`],
      )
    ).rows.map((r) => r.query);
  await waitFor('one backend LISTENs for both stores', async () => {
    const now = await listeners();
    return now.length === 1 && now[0]!.includes('LISTEN "sessions_ended_');
  }, LONG);
  t.equal((await listeners()).length, 1, 'one connection for both channels');

  const { session } = await sessions.create({ userId: 'user-1', role: 'user' });
  t.equal(await sessions.revokeAllForUser('user-1'), 1);
  await waitFor('the revocation is announced', () => ended.includes(session.id), LONG);
});
