/**
 * The token of an `Authorization: Bearer <token>` header, shared by the HTTP API and the WebSocket
 * upgrade so both read the header alike. The scheme is case-insensitive (RFC 9110, 11.1), the token
 * is not; null for anything else (a malformed header is no credential, never a reason to try the cookie).
 */
const BEARER = /^Bearer +([A-Za-z0-9_-]+)$/i;

export const bearerToken = (header: string): string | null => BEARER.exec(header)?.[1] ?? null;
