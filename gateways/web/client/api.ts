/**
 * fetch for the JSON API with the session cookie. Cookie-authenticated writes must carry the
 * session's CSRF token as X-CSRF-Token (gateways/http/plugins/csrf.ts); the pages get it from
 * /api/me or the login answer. Errors become ApiError with the API's stable code.
 */
import { waitText } from './wait-text.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
    readonly retryAfterSec: number | null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The server could not be reached at all (offline, refused, aborted). */
export class NetworkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NetworkError';
  }
}

let csrfToken: string | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

interface ErrorBody {
  error?: { code?: unknown; message?: unknown; details?: unknown };
}

export async function api<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  // No body, no content type: fastify refuses an empty body declared as JSON.
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new NetworkError(err instanceof Error ? err.message : String(err));
  }
  const text = await res.text().catch(() => '');
  let json: unknown = null;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    json = null;
  }
  if (!res.ok) {
    const e = (json as ErrorBody | null)?.error;
    const retry = Number(res.headers.get('retry-after'));
    throw new ApiError(
      res.status,
      typeof e?.code === 'string' ? e.code : `HTTP_${res.status}`,
      typeof e?.message === 'string' ? e.message : res.statusText || 'Request failed',
      e?.details,
      Number.isFinite(retry) && retry > 0 ? retry : null,
    );
  }
  return json as T;
}

/** A message for people, for any error a request can end in. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.code === 'RATE_LIMITED') return `Too many attempts; try again${err.retryAfterSec ? ` in ${waitText(err.retryAfterSec)}` : ' later'}.`;
    return err.message;
  }
  if (err instanceof NetworkError) return 'The server cannot be reached. Check your connection and try again.';
  return err instanceof Error ? err.message : String(err);
}
