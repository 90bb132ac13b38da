/**
 * Turns every failure into `{ error: { code, message, details? } }` with the status from the one
 * registry (../errors.ts). Errors we did not expect are logged at error level with the request's
 * method, route, id and user, and never its body, cookies or Authorization header; the client gets
 * INTERNAL and the request id to quote.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import helmet from 'helmet';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConcurrencyRetriesExhaustedError } from '../../../commands/handle-command.js';
import { isTransientError } from '../../../commands/ports/transient-error.js';
import { HasherBusyError } from '../../../commands/ports/password-hasher.js';
import { API_ERRORS, ApiError, errorBody, type ApiErrorCode } from '../errors.js';
import { isApiPath, routedPath } from '../routed-path.js';
import { readableSchemaMessage } from '../../schema-message.js';
import { HELMET_OPTIONS } from '../security-headers.js';

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  keyword?: string;
}

/** How much of a JSON pointer a refusal names: it holds the client's own property names, at any length. */
const PATH_MAX_CHARS = 60;
const shortPath = (path: string): string => (path.length > PATH_MAX_CHARS ? `${path.slice(0, PATH_MAX_CHARS)}…` : path);

/** Validation errors as a client can use them: where and what, without echoing the offending values. */
function validationDetails(issues: readonly ValidationIssue[], context: string | undefined): Array<{ in: string; path: string; message: string }> {
  const details = new Map<string, { in: string; path: string; message: string }>();
  // Alternatives (anyOf) fail once per branch with the same words: each is said once.
  for (const i of issues) {
    const d = { in: context ?? 'body', path: shortPath(i.instancePath || '/'), message: readableSchemaMessage(i.message ?? i.keyword ?? 'invalid') };
    details.set(`${d.path}\u0000${d.message}`, d);
    if (details.size === 20) break;
  }
  return [...details.values()];
}

/** No script, style or user input in it: the default CSP holds, and nothing is echoed back. */
const NOT_FOUND_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Page not found · Simple Chat</title></head>
<body><h1>Page not found</h1><p>There is no page at this address. <a href="/profile">Go to your chats</a>.</p></body></html>
`;

/** Fastify's own 4xx errors, by their codes; anything else client-side is BAD_REQUEST. */
const FASTIFY_CODES: Record<string, ApiErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
};

export function logContext(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    // The route pattern, not the raw URL: a query string is the client's, and may carry anything.
    url: request.routeOptions.url ?? request.url.split('?')[0],
    // No reqId: request.log already carries it, and a second one made a duplicate JSON key.
    userId: request.auth?.session.userId ?? null,
  };
}

/**
 * The headers helmet puts on every response (security-headers.ts, as app.ts registers them), taken once, for the
 * answers given before any hook runs: those of frameworkErrors and of Node's parser below. With them
 * `Cache-Control: no-store`, which app.ts sets on every other API answer.
 */
const PRE_HOOK_HEADERS: ReadonlyArray<readonly [string, string]> = (() => {
  const headers: Array<[string, string]> = [];
  const collect = { setHeader: (name: string, value: unknown) => void headers.push([name, String(value)]), removeHeader: () => undefined };
  helmet(HELMET_OPTIONS)({} as IncomingMessage, collect as unknown as ServerResponse, () => undefined);
  headers.push(['Cache-Control', 'no-store']);
  return headers;
})();

/**
 * Fastify's `frameworkErrors`: what the router refuses before any route or hook runs (a path that is
 * not valid percent-encoded UTF-8, a path parameter over routerOptions.maxParamLength), in the same
 * `{ error: { code } }` shape as every other refusal instead of Fastify's own.
 */
export function answerFrameworkError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  for (const [name, value] of PRE_HOOK_HEADERS) void reply.header(name, value);
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void reply.status(400).send(errorBody('VALIDATION_FAILED', undefined, [{ in: 'params', path: '/', message: 'a path parameter is too long' }]));
  } else if (error.code === 'FST_ERR_BAD_URL') {
    void reply.status(400).send(errorBody('BAD_REQUEST', 'The URL is not valid percent-encoded UTF-8.'));
  } else {
    void reply.status(500).send(errorBody('INTERNAL'));
  }
}

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses before any request exists (not
 * HTTP/1.1, headers over 16 KiB, a request that never arrives in full), answered in the same
 * `{ error: { code, message } }` shape as every other refusal, then the connection is closed.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset connection is already gone: nothing to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ApiErrorCode = err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : 'BAD_REQUEST';
  answerOnSocket(socket, code);
}

/** An error answer written straight to a connection no request of which is being served, which is then closed. */
export function answerOnSocket(socket: Duplex, code: ApiErrorCode, extraHeaders = ''): void {
  const { status } = API_ERRORS[code];
  const body = JSON.stringify(errorBody(code));
  if (socket.writable) {
    const headers = PRE_HOOK_HEADERS.map(([name, value]) => `${name}: ${value}\r\n`).join('') + extraHeaders;
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}Connection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | ApiError | Error, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof ApiError) {
      return reply.status(error.status).send(errorBody(error.code, error.message, error.details));
    }
    if (error instanceof HasherBusyError) {
      // Load shedding, not a fault: the client retries after a second; nothing was checked or written.
      return reply.status(503).header('retry-after', '1').send(errorBody('SERVICE_UNAVAILABLE', 'Too many passwords are being checked right now; try again in a moment.'));
    }
    if (error instanceof ConcurrencyRetriesExhaustedError) {
      return reply.status(409).send(errorBody('CONCURRENCY_CONFLICT'));
    }
    const fe = error as FastifyError;
    if (fe.validation) {
      return reply.status(400).send(errorBody('VALIDATION_FAILED', undefined, validationDetails(fe.validation, fe.validationContext)));
    }
    const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
    if (mapped) return reply.status(mapped === 'BAD_REQUEST' ? 400 : fe.statusCode ?? 400).send(errorBody(mapped));
    if (fe.statusCode === 429) return reply.status(429).send(errorBody('RATE_LIMITED'));
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(400).send(errorBody('BAD_REQUEST'));
    }
    // The driver's code survives the logger's SQL redaction (infra/logger.ts); the statement does not.
    const err = { type: error.name, code: fe.code, message: error.message, stack: error.stack };
    if (isTransientError(error)) {
      // A database or cache that is down or restarting: the client may retry; operators see it in the log.
      request.log.error({ ...logContext(request), err }, 'backing service unavailable');
      return reply.status(503).header('retry-after', '1').send(errorBody('SERVICE_UNAVAILABLE'));
    }
    request.log.error({ ...logContext(request), err }, 'unexpected error');
    return reply.status(500).send(errorBody('INTERNAL', `Something went wrong on our side (request ${request.id}).`));
  });

  app.setNotFoundHandler((request, reply) => {
    // A person who mistyped a page's address gets a page, not JSON; API clients (and /api/* always) get the error body.
    const path = routedPath(request.url);
    const browser = (request.method === 'GET' || request.method === 'HEAD') && !isApiPath(path)
      && /\btext\/html\b/.test(request.headers.accept ?? '');
    if (browser) return reply.status(404).type('text/html; charset=utf-8').send(NOT_FOUND_PAGE);
    return reply.status(404).send(errorBody('NOT_FOUND'));
  });
}
