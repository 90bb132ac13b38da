/**
 * The CSRF token of a session, derived from its secret token: a page that cannot read the HttpOnly
 * session cookie cannot compute it, and it changes whenever the session does (bound to the session).
 * Deriving it means nothing more has to be stored.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const csrfTokenFor = (sessionToken: string): string =>
  createHmac('sha256', sessionToken).update('csrf-v1').digest('base64url');

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
