/**
 * Where to go after logging in: the ?next= target if it is a page of this origin, else the profile.
 * Pure (no DOM) so it is unit-tested in Node (test/web/safe-next.test.ts).
 *
 * The decision is made on the URL as the browser will parse it, never on the raw string: the
 * parser drops tabs and newlines, reads `\` as `/` and accepts schemes like javascript: and data:,
 * so `/\t/evil.example` or `/\evil.example` look like paths but lead to another site.
 */

export const DEFAULT_NEXT = '/profile';

/**
 * `origin` is the page's own origin (location.origin). Returns a path (with query and fragment) of
 * that origin, serialized by the URL parser, to be navigated to instead of the raw value.
 */
export function safeNext(raw: string | null | undefined, origin: string, fallback = DEFAULT_NEXT): string {
  if (!raw) return fallback;
  let own: URL;
  let url: URL;
  try {
    own = new URL(origin);
    url = new URL(raw, own.origin);
  } catch {
    return fallback;
  }
  // The protocol check too: blob:<our origin>/… reports our origin but is no page of ours.
  if (url.origin !== own.origin || url.protocol !== own.protocol) return fallback;
  const path = url.pathname + url.search + url.hash;
  // Dot segments can leave `//host` at the start of the path (`/.//evil.example`), which on its
  // own is a protocol-relative URL to another site.
  if (!path.startsWith('/') || path.startsWith('//')) return fallback;
  return path;
}
