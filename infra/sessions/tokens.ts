/**
 * Session tokens and tickets: 256 random bits from the CSPRNG (OWASP asks for at least 128),
 * base64url so they travel in cookies and headers unescaped. Only their sha256 is stored: the
 * token already has full entropy, so a fast hash is enough (no salt or argon2 needed).
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

export const newToken = (): string => randomBytes(32).toString('base64url');
export const newSessionId = (): string => randomUUID();
export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** Tokens are 43 base64url characters; anything else is refused before a database round trip. */
export const looksLikeToken = (value: string): boolean => /^[A-Za-z0-9_-]{43}$/.test(value);

/**
 * The CSRF token of a session, derived from its secret token: a page that cannot read the HttpOnly
 * session cookie cannot compute it, and it changes whenever the session does (bound to the session).
 * Deriving it means nothing more has to be stored.
 */
export const csrfTokenFor = (sessionToken: string): string =>
  createHmac('sha256', sessionToken).update('csrf-v1').digest('base64url');

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
