// A gateway killed with SIGKILL while clients are connected is replaced on the same port at once:
// this uWebSockets.js build listens with SO_REUSEPORT, so neither the dead process's connections
// in TIME_WAIT nor a still-running predecessor block the bind (issue 13). Two processes can even
// share the port for a handover without downtime.
//
// The port is fixed from the first start, as in production: a socket that asked for port 0 gets a
// port whose TIME_WAIT connections do block a later explicit bind (see listenWithRetry in server.ts).
import t from 'tap';
import { freePort } from '../support/free-port.js';
import { connect, openChatFixture, spawnGateway } from './support.js';

const url = (port: number): string => `ws://127.0.0.1:${port}/ws`;
const busy = (output: string[]): boolean => output.some((l) => l.includes('ws port busy'));

t.test('a gateway killed with SIGKILL is replaced on the same port without waiting for it', async (t) => {
  const { fx, alice, bob, chatId } = await openChatFixture(t);

  const port = await freePort();
  const first = await spawnGateway(fx, { WS_PORT: String(port) });
  t.equal(first.port, port);
  t.teardown(() => first.stop('SIGKILL'));
  const a = await connect(url(port), { token: alice.token });
  const b = await connect(url(port), { token: bob.token });
  await a.resume({ [chatId]: -1 });
  await b.resume({ [chatId]: -1 });
  t.equal((await a.send(chatId, 'before the kill')).type, 'ack');
  await b.until('bob has the first message', () => b.lastRevision(chatId) === 1);

  await first.stop('SIGKILL');
  await Promise.all([a.closed, b.closed]);

  const second = await spawnGateway(fx, { WS_PORT: String(port) });
  t.teardown(() => second.stop('SIGKILL'));
  t.equal(second.port, port, 'the replacement listens on the same port');
  t.notOk(busy(second.output), 'its first bind succeeded: no retry on a busy port');

  const a2 = await connect(url(port), { token: alice.token });
  const b2 = await connect(url(port), { token: bob.token });
  await a2.resume({ [chatId]: 1 });
  await b2.resume({ [chatId]: 1 });
  t.equal((await a2.send(chatId, 'after the restart')).type, 'ack');
  await b2.until('bob has the message sent after the restart', () => b2.lastRevision(chatId) === 2);
  t.same(b2.revisionsOf(chatId), [2], 'resumed exactly after the restart');

  // A handover without downtime: the next process binds while this one still serves.
  const third = await spawnGateway(fx, { WS_PORT: String(port) });
  t.teardown(() => third.stop('SIGKILL'));
  t.equal(third.port, port, 'a second process shares the port while the first runs');
  t.notOk(busy(third.output), 'no retry while the predecessor still listens');
  await a2.close();
  await b2.close();
  t.equal(await second.stop('SIGTERM'), 0, 'the predecessor stops cleanly');
  const a3 = await connect(url(port), { token: alice.token });
  await a3.resume({ [chatId]: 2 });
  t.equal((await a3.send(chatId, 'served by the successor')).type, 'ack', 'the successor serves the port alone');
  await a3.close();
});
