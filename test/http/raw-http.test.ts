// What Node's HTTP parser refuses before fastify sees a request (not HTTP/1.1, headers over 16 KiB)
// is answered in the API's own error shape with a stable code, and the connection is closed.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { startHarness } from './harness.js';

/** Writes raw bytes to the server and reads until it closes the connection. */
function raw(port: number, request: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.end(request);
  });
}

t.test('malformed HTTP gets a coded JSON error and a closed connection', async (t) => {
  const h = await startHarness('embedded', {});
  t.teardown(() => h.close());
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (h.app.server.address() as AddressInfo).port;
  const cases: Array<[string, string | Buffer, number, string]> = [
    ['a control byte in a header', 'GET /api/me HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0001b\r\n\r\n', 400, 'BAD_REQUEST'],
    ['an unknown method', 'FOO /api/me HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'BAD_REQUEST'],
    ['both Content-Length and Transfer-Encoding', 'POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'BAD_REQUEST'],
    ['a negative Content-Length', 'POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400, 'BAD_REQUEST'],
    ['an unknown HTTP version', 'GET /api/me HTTP/9.9\r\nHost: x\r\n\r\n', 400, 'BAD_REQUEST'],
    ['headers over 16 KiB', `GET /api/me HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
  ];
  for (const [label, request, status, code] of cases) {
    const answer = await raw(port, request);
    const [head, body] = answer.split('\r\n\r\n');
    t.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), `${label}: ${status}`);
    t.match(head, /connection: close/i, `${label}: the connection is closed`);
    t.match(head, /cache-control: no-store/i, `${label}: no cache keeps it`);
    t.match(head, /x-content-type-options: nosniff/i, `${label}: helmet's headers too`);
    t.match(JSON.parse(body ?? 'null'), { error: { code, message: String } }, `${label}: ${code}`);
  }
  // Refused by the router before any hook runs: the same headers as every other API answer.
  const badUrl = await raw(port, 'GET /api/chats/%E0%A4%A/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(badUrl, /^HTTP\/1\.1 400 /, 'a URL that is not percent-encoded UTF-8: 400');
  t.match(badUrl, /cache-control: no-store/i, 'with no-store');
  t.match(badUrl, /x-content-type-options: nosniff/i, 'and helmet\'s headers');
  t.match(badUrl, /content-security-policy: /i, 'its content security policy among them');
  const fine = await raw(port, 'GET /api/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(fine, /^HTTP\/1\.1 401 /, 'and the server still answers');
  // Node answers an unknown expectation with a bare 417 unless told otherwise: it is served as usual.
  const expect = await raw(port, 'GET /api/me HTTP/1.1\r\nHost: x\r\nExpect: x-unknown\r\nConnection: close\r\n\r\n');
  const [expectHead, expectBody] = expect.split('\r\n\r\n');
  t.match(expectHead, /^HTTP\/1\.1 401 /, 'an unknown Expect: the request is served as usual');
  t.match(expectHead, /cache-control: no-store/i, 'with the API\'s headers');
  t.match(JSON.parse(expectBody ?? 'null'), { error: { code: 'UNAUTHENTICATED' } });
  // Expect: 100-continue with a body over the limit: 413 at once, the body never invited.
  const tooBig = await raw(port, 'POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n');
  t.match(tooBig, /^HTTP\/1\.1 413 /, 'a body over the limit is refused before it is sent, without a 100 Continue');
  t.match(tooBig.split('\r\n\r\n')[1] ?? '', /"code":"PAYLOAD_TOO_LARGE"/);
  const small = await raw(port, 'POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n{}');
  t.match(small, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 400 /, 'one within it is invited, then read');
  // Node decodes chunked only: a body in another transfer coding was read as if it were plain.
  const gzipped = await raw(port, 'POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n'
    + 'f\r\n{"username":"a"\r\n0\r\n\r\n');
  const [gzHead, gzBody] = gzipped.split('\r\n\r\n');
  t.match(gzHead, /^HTTP\/1\.1 415 /, 'Transfer-Encoding other than chunked: 415');
  t.match(JSON.parse(gzBody ?? 'null'), { error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
  const chunked = await raw(port, 'POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'
    + '2\r\n{}\r\n0\r\n\r\n');
  t.match(chunked, /^HTTP\/1\.1 400 /, 'plain chunked is read as before (an empty login is a validation error)');
});

/** Opens a connection and resolves once it is established (nothing sent). */
function hold(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Everything the server writes on this connection until it closes it. */
function answerOf(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

t.test('one address cannot hold every connection: past its limit 429, and half-sent requests time out', async (t) => {
  const h = await startHarness('embedded', { config: { maxConnectionsPerAddress: 3, headersTimeoutMs: 500, requestTimeoutMs: 1_000 } });
  t.teardown(() => h.close());
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (h.app.server.address() as AddressInfo).port;

  const held = await Promise.all([hold(port), hold(port), hold(port)]);
  const answers = held.map(answerOf);
  const fourth = await hold(port);
  const refused = await answerOf(fourth);
  t.match(refused, /^HTTP\/1\.1 429 /, 'the fourth connection from the address: 429');
  t.match(refused, /retry-after: 1/i);
  t.match(JSON.parse(refused.split('\r\n\r\n')[1] ?? 'null'), { error: { code: 'RATE_LIMITED' } });

  // The three held ones sent nothing (or half a request): each is answered 408 and closed, freeing its slot.
  held[0]!.write('GET /api/me HTTP/1.1\r\nHost: x\r\n');
  for (const [i, answer] of (await Promise.all(answers)).entries()) {
    t.match(answer, /^(HTTP\/1\.1 408 |$)/, `held connection ${i}: 408 or closed without a word`);
  }
  t.match((await Promise.all(answers))[0], /^HTTP\/1\.1 408 [\s\S]*REQUEST_TIMEOUT/, 'the half-sent request: 408 REQUEST_TIMEOUT');
  const again = await raw(port, 'GET /api/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(again, /^HTTP\/1\.1 401 /, 'once they are gone the address is served again');
});
