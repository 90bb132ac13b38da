/**
 * Session tokens and tickets: 256 random bits from the CSPRNG (OWASP asks for at least 128),
 * base64url so they travel in cookies and headers unescaped. Only their sha256 is stored: the
 * token already has full entropy, so a fast hash is enough (no salt or argon2 needed).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Role } from '../../domain/events.js';
import type { Session, SessionPolicy } from '../../gateways/ports/sessions.js';

export const newToken = (): string => randomBytes(32).toString('base64url');
export const newSessionId = (): string => randomUUID();
export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** Tokens are 43 base64url characters; anything else is refused before a database round trip. */
export const looksLikeToken = (value: string): boolean => /^[A-Za-z0-9_-]{43}$/.test(value);

/** A new session and its token, as every store creates one (the store then saves hashToken(token) with it). */
export function newSession(input: { userId: string; role: Role }, policy: SessionPolicy): { token: string; session: Session } {
  const now = policy.clock();
  const session: Session = {
    id: newSessionId(), userId: input.userId, role: input.role, createdAt: now, lastSeenAt: now,
    absoluteExpiresAt: new Date(now.getTime() + policy.absoluteTimeoutMs),
  };
  return { token: newToken(), session };
}
