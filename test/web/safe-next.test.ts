// ?next= after logging in (gateways/web/client/safe-next.ts), without a browser: Node's URL parser is
// the WHATWG one the browser uses. Only a path of the page's own origin survives, serialized by the
// parser; everything that would leave the origin (or run a script) falls back to the profile.
import fc from 'fast-check';
import t from 'tap';
import { DEFAULT_NEXT, safeNext } from '../../gateways/web/client/safe-next.js';

const ORIGIN = 'http://127.0.0.1:3000';

t.test('same-origin targets are kept, as the parser serializes them', async (t) => {
  const kept: Array<[string, string]> = [
    ['/profile', '/profile'],
    ['/chat?id=alice:bob', '/chat?id=alice:bob'],
    ['/chat?id=alice%3Abob#latest', '/chat?id=alice%3Abob#latest'],
    [`${ORIGIN}/chat?id=a:b`, '/chat?id=a:b'],
    ['HTTP://127.0.0.1:3000/profile', '/profile'],
    [`http://user:secret@127.0.0.1:3000/profile`, '/profile'],
    ['//127.0.0.1:3000/profile', '/profile'],
    ['http:profile', '/profile'],
    ['profile', '/profile'],
    ['/a/../chat', '/chat'],
    [' /profile ', '/profile'],
    // Encoded separators stay encoded: one path segment on this origin, never a host.
    ['/%2F/evil.example', '/%2F/evil.example'],
    ['%2F%2Fevil.example', '/%2F%2Fevil.example'],
    ['/%5Cevil.example', '/%5Cevil.example'],
    ['/%09/evil.example', '/%09/evil.example'],
    // Characters the raw string had are percent-encoded in the result.
    ['/chat?id=a b', '/chat?id=a%20b'],
    ['/\u3000//evil.example', '/%E3%80%80//evil.example'],
    ['\uff0f\uff0fevil.example', '/%EF%BC%8F%EF%BC%8Fevil.example'],
  ];
  for (const [raw, want] of kept) t.equal(safeNext(raw, ORIGIN), want, JSON.stringify(raw));
});

t.test('anything that leaves the origin or is not a page goes to the profile', async (t) => {
  const refused = [
    // What the old string check let through: the parser drops tabs and newlines, so `/\t/` is `//`.
    '/\t/evil.example/x', '/\n/evil.example', '/\r/evil.example', '/\r\n/evil.example', '\t//evil.example',
    '/\t\\evil.example', '\n/\\evil.example',
    // Backslashes read as slashes in http(s) URLs.
    '/\\evil.example', '\\/evil.example', '\\\\evil.example', '/\\/evil.example',
    // Protocol-relative and absolute.
    '//evil.example', '///evil.example', '////evil.example/x', '//evil.example/%2F..',
    'https://evil.example', 'http://evil.example/profile', 'https:evil.example', 'https://127.0.0.1:3000/profile',
    'http://127.0.0.1:3001/profile', 'http://127.0.0.1.evil.example/', 'http://evil.example@127.0.0.1.evil.example/',
    'ws://127.0.0.1:3000/ws', 'ftp://127.0.0.1:3000/',
    // Control characters and spaces at the ends are stripped before parsing.
    '\u0000//evil.example', ' //evil.example', '\u001f//evil.example',
    // Dot segments that leave `//host` at the start of the path.
    '/.//evil.example', '/x/..//evil.example', '/..//evil.example', `${ORIGIN}//evil.example`, `${ORIGIN}/.//evil.example`,
    // Script and other schemes.
    'javascript:alert(1)', 'JavaScript:alert(1)', ' javascript:alert(1)', 'java\tscript:alert(1)', 'javascript://%0aalert(1)',
    'data:text/html,<script>alert(1)</script>', 'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==',
    'vbscript:msgbox(1)', `blob:${ORIGIN}/0b6a1f6e-0000-4000-8000-000000000000`, 'about:blank', 'mailto:a@evil.example',
    // Not a URL at all.
    'http://', 'http://[::1', 'http://a b/',
  ];
  for (const raw of refused) t.equal(safeNext(raw, ORIGIN), DEFAULT_NEXT, JSON.stringify(raw));
});

t.test('missing or empty, a custom fallback, and the origin given as any URL of the page', async (t) => {
  t.equal(safeNext(null, ORIGIN), '/profile');
  t.equal(safeNext(undefined, ORIGIN), '/profile');
  t.equal(safeNext('', ORIGIN), '/profile');
  t.equal(safeNext('//evil.example', ORIGIN, '/chat'), '/chat', 'the fallback is the caller\'s');
  t.equal(safeNext('/chat?id=a:b', `${ORIGIN}/login?next=x`), '/chat?id=a:b', 'only the origin of the second argument counts');
  t.equal(safeNext('/profile', 'not a url'), '/profile', 'an unparsable origin refuses everything');
  t.equal(safeNext('/chat', 'not a url'), '/profile');
  t.equal(safeNext('/chat', 'https://chat.example'), '/chat', 'https origins work the same');
  t.equal(safeNext('http://chat.example/chat', 'https://chat.example'), '/profile', 'a downgrade to http is another origin');
});

/** Why `out` (the result for some input) is not a safe target, or null when it is. */
function unsafe(out: string): string | null {
  if (!out.startsWith('/') || out.startsWith('//')) return 'not a single-slash path';
  const parsed = new URL(out, ORIGIN);
  if (parsed.origin !== ORIGIN) return `parses to ${parsed.origin}`;
  // Nothing the parser would still drop or turn into a slash (a backslash in the query or fragment is only data).
  if (/[\t\n\r]/.test(out) || out.split(/[?#]/, 1)[0]!.includes('\\')) return 'holds characters the parser rewrites';
  // Already in the parser's own form: navigating to it means exactly what was checked.
  if (parsed.pathname + parsed.search + parsed.hash !== out) return 'not in the parser\'s form';
  if (safeNext(out, ORIGIN) !== out) return 'not stable';
  return null;
}

t.test('every result is a path the browser cannot read as another host', async (t) => {
  const parts = ['/', '\\', '\t', '\n', '.', ':', '%2F', '%5C', 'evil.example', '@', '?', '#', ' ', 'javascript:', '//'];
  let checked = 0;
  const bad: string[] = [];
  for (const a of parts) for (const b of parts) for (const c of parts) {
    const raw = a + b + c;
    const why = unsafe(safeNext(raw, ORIGIN));
    checked++;
    if (why) bad.push(`${JSON.stringify(raw)}: ${why}`);
  }
  t.same(bad, [], `all ${checked} three-part combinations give a safe path`);

  // Random strings built from the same kind of pieces, plus any character at all.
  const piece = fc.oneof(fc.constantFrom(...parts, '\r', '\u0000', 'http:', 'https://', '127.0.0.1:3000', '..', '%09'), fc.string({ maxLength: 3, unit: 'binary' }));
  t.doesNotThrow(() => fc.assert(fc.property(fc.array(piece, { maxLength: 8 }).map((xs) => xs.join('')), (raw) => unsafe(safeNext(raw, ORIGIN)) === null), { numRuns: 5000 }), '5000 random inputs give a safe path');
});
