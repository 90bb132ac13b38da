/**
 * The Content-Security-Policy of the pages. It replaces helmet's default for them because
 *  - the WebSocket gateway is another origin (its own port), which connect-src must name, and
 *  - helmet's upgrade-insecure-requests would break the pages when served over plain http on a
 *    LAN address (a phone on the same network), so it is only added for https.
 * Scripts and styles come only from our own origin: no inline script, no CDN.
 */
export function pageCsp(opts: { wsUrl: string; https: boolean }): string {
  let wsOrigin = '';
  try {
    const u = new URL(opts.wsUrl);
    if (u.protocol === 'ws:' || u.protocol === 'wss:') wsOrigin = ` ${u.protocol}//${u.host}`;
  } catch {
    // An unparseable URL connects nowhere; 'self' alone is then the policy.
  }
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self'${wsOrigin}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    ...(opts.https ? ['upgrade-insecure-requests'] : []),
  ].join('; ');
}
