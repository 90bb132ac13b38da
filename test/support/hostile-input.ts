// Arbitraries for input a hostile or broken client sends: text no store can hold (U+0000, unpaired
// surrogates), numbers past every column's range, times outside PostgreSQL's, forged cursors, deep
// nesting and huge arrays. Shared by the HTTP and WebSocket fuzz tests.
import fc from 'fast-check';

/** The characters that broke the stores before they were refused at the edge, and some ordinary company. */
const nasty = fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\ud83d\ude00', '\ufffd', '\u202e', '%00', ':', '/', '\\', '"', ' ', '\n', 'é');

/** Any text, weighted towards U+0000 and unpaired surrogates. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.array(fc.oneof(nasty, fc.string({ unit: 'binary', maxLength: 6 })), { maxLength: 12 }).map((parts) => parts.join('')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '1e300', '-1', '0', 'NaN', 'Infinity', '99999999999999999999', '9223372036854775808', 'null', 'true', '[]', '{}') },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 3000 }).chain((n) => fc.constantFrom('x'.repeat(n), `\u0000${'y'.repeat(n)}`)) },
);

/** Numbers past what any column holds, and the odd ones. */
export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(1e300, -1e300, 2 ** 63, 2 ** 64, -(2 ** 63) - 1, 2 ** 53 + 1, 2 ** 31, 2 ** 31 - 1, -1, 0, -0, 1e-300, 8.64e15, 8.64e15 + 1, -8.64e15),
  fc.double({ noNaN: true }),
  fc.integer(),
);

/** ISO-8601 times across the whole JavaScript range and the edges of the accepted one (years 1 to 9999). */
export const hostileTime: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '0000-01-01T00:00:00Z', '0000-12-31T23:59:59.999Z', '0001-01-01T00:00:00Z', '0001-01-01T00:30:00+01:00', '9999-12-31T23:59:59.999Z',
    '9999-12-31T23:00:00-01:00', '-271821-04-20T00:00:00Z', '+275760-09-13T00:00:00Z', '2026-02-30T00:00:00Z', '2026-01-01T24:00:00Z',
    '0000-01-01', '0001-01-01', '9999-12-31', '2026-02-29', '1970-01-01',
  ),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
);

/** A cursor as the API issues them (base64url JSON array), with hostile parts; and plain junk. */
export const hostileCursor: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.oneof(hostileNumber, hostileText, fc.constantFrom(Date.now(), '1', '42', 'alice', 'alice:bob', '99999999999999999999', '-1', '1.5')), { maxLength: 3 })
    .map((key) => Buffer.from(JSON.stringify(key)).toString('base64url')) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null').toString('base64url')) },
  { weight: 1, arbitrary: hostileText },
);

/** JSON text nested `depth` deep: arrays, objects, or both. */
export const deepJson = (depth: number, kind: 'array' | 'object' | 'mixed'): string => {
  if (kind === 'array') return `${'['.repeat(depth)}${']'.repeat(depth)}`;
  if (kind === 'object') return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  return `${'[{"a":'.repeat(depth)}1${'}]'.repeat(depth)}`;
};

/** A JSON value as text: deep, huge, hostile or ordinary. */
export const hostileJsonText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: hostileText.map((s) => JSON.stringify(s)) },
  { weight: 2, arbitrary: hostileNumber.map((n) => JSON.stringify(n)) },
  { weight: 1, arbitrary: fc.constantFrom('1e400', '-1e400', '123456789012345678901234567890', '0.0000000000000000000000000001', 'true', 'null') },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 10, max: 20_000 }), fc.constantFrom('array' as const, 'object' as const, 'mixed' as const)).map(([d, k]) => deepJson(d, k)) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 30_000 }).map((n) => `[${new Array(n).fill('0').join(',')}]`) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null') },
);

/** Percent-encodes every UTF-8 byte but the unreserved ones (an unpaired surrogate goes out as U+FFFD, as a browser sends it). */
export function pctEncode(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_.~-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A URL component, already encoded: hostile text, or raw bytes that are not UTF-8 at all (%ED%A0%80, %C0%80 …). */
export const hostileUrlComponent: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: hostileText.map(pctEncode) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 12 }).map((bytes) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')) },
  { weight: 1, arbitrary: fc.constantFrom('%ED%A0%80', '%C0%80', '%FF', '%', '%0', '%zz', '%2F', '..', '%2E%2E') },
);
