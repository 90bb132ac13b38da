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
});
