/**
 * The one registry of what the HTTP API answers for each error code: every domain code
 * (domain/errors.ts), the infrastructure code a client can meet, and the HTTP-level codes. Clients
 * match on `code`, never on `message` or status alone. docs/errors.md lists the same table and
 * test/http/errors-doc.test.ts keeps the two equal.
 */
import { DOMAIN_ERRORS, type DomainError, type DomainErrorCode } from '../../domain/errors.js';

/** HTTP status of each domain code. Typed as a full record, so a new domain code fails the build until mapped. */
export const DOMAIN_STATUS: { readonly [K in DomainErrorCode]: number } = {
  USERNAME_INVALID: 422,
  USERNAME_TAKEN: 409,
  PASSWORD_TOO_SHORT: 422,
  PASSWORD_TOO_LONG: 422,
  PASSWORD_INVALID_CHARACTERS: 422,
  USER_NOT_FOUND: 404,
  // The same for unknown users and wrong passwords, so the answer does not reveal who exists.
  INVALID_CREDENTIALS: 401,
  CHAT_WITH_SELF: 422,
  CHAT_NOT_FOUND: 404,
  NOT_A_PARTICIPANT: 403,
  MESSAGE_EMPTY: 422,
  MESSAGE_TOO_LONG: 422,
  MESSAGE_INVALID_CHARACTERS: 422,
  CLIENT_MESSAGE_ID_INVALID: 422,
  READ_REVISION_INVALID: 422,
  READ_REVISION_AHEAD: 422,
  USER_ERASED: 410,
  PARTICIPANT_ERASED: 410,
  MESSAGE_NOT_FOUND: 404,
  NOT_MESSAGE_SENDER: 403,
  MESSAGE_DELETED: 409,
  EDIT_WINDOW_PASSED: 409,
};

/** Codes produced by the HTTP layer itself (and the infrastructure code a client may see). */
export const HTTP_ERRORS = {
  BAD_REQUEST: { status: 400, message: 'The request could not be accepted as sent: malformed HTTP, headers, URL or JSON (JSON with a "__proto__" key, or a "constructor" key holding "prototype", counts as malformed).' },
  VALIDATION_FAILED: { status: 400, message: 'The request does not match the schema; see details.' },
  UNAUTHENTICATED: { status: 401, message: 'Log in first: no valid session token was sent, or it expired.' },
  FORBIDDEN: { status: 403, message: 'Your role does not allow this.' },
  CSRF_REJECTED: { status: 403, message: 'Cookie-authenticated writes need a matching X-CSRF-Token header and an allowed Origin.' },
  NOT_FOUND: { status: 404, message: 'No such route.' },
  CONCURRENCY_CONFLICT: { status: 409, message: 'The data kept changing under the request; it is safe to retry.' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in full in time.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is larger than 64 KiB.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send JSON (Content-Type: application/json).' },
  RATE_LIMITED: { status: 429, message: 'Too many attempts; wait for the Retry-After seconds.' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request line and headers are larger than 16 KiB.' },
  INTERNAL: { status: 500, message: 'Something went wrong on our side; it has been logged.' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'A backing service is unavailable; try again shortly.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type HttpErrorCode = keyof typeof HTTP_ERRORS;
export type ApiErrorCode = DomainErrorCode | HttpErrorCode;

/** Every code the API can answer with, its status and default message. */
export const API_ERRORS: { readonly [K in ApiErrorCode]: { status: number; message: string } } = {
  ...(Object.fromEntries(
    (Object.keys(DOMAIN_STATUS) as DomainErrorCode[]).map((code) => [code, { status: DOMAIN_STATUS[code], message: DOMAIN_ERRORS[code] }]),
  ) as { [K in DomainErrorCode]: { status: number; message: string } }),
  ...HTTP_ERRORS,
};

export interface ErrorBody {
  error: { code: ApiErrorCode; message: string; details?: unknown };
}

/** An error a route throws on purpose; the error plugin turns it into the registered status and body. */
export class ApiError extends Error {
  readonly status: number;
  constructor(readonly code: ApiErrorCode, message?: string, readonly details?: unknown) {
    super(message ?? API_ERRORS[code].message);
    this.name = 'ApiError';
    this.status = API_ERRORS[code].status;
  }
}

export const fromDomain = (error: DomainError): ApiError => new ApiError(error.code, error.message);

export function errorBody(code: ApiErrorCode, message?: string, details?: unknown): ErrorBody {
  const body: ErrorBody = { error: { code, message: message ?? API_ERRORS[code].message } };
  if (details !== undefined) body.error.details = details;
  return body;
}
