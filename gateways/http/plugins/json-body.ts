/**
 * The JSON body parser: Fastify's own (secure-json-parse, refusing prototype keys), fed only bytes
 * that are valid UTF-8. Fastify decodes a body as UTF-8 whatever it holds, so invalid bytes became
 * U+FFFD and were stored as such, a charset other than UTF-8 was read as UTF-8, and a compressed
 * body was parsed as if it were not. Each is now refused with a code, and nothing changes.
 *
 * An empty body under `Content-Type: application/json` is no body, not malformed JSON: many fetch
 * wrappers send that header on every request, a DELETE's included. A route that needs a body then
 * refuses it as VALIDATION_FAILED, like any body of the wrong shape. A route that takes none refuses
 * one with content the same way (unknown properties are refused everywhere); `{}` and `null` say nothing
 * and pass, since wrappers send those too.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function installJsonBody(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    if ((body as Buffer).length === 0) {
      done(null, undefined);
      return;
    }
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1];
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
      done(new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Send JSON in UTF-8 (charset=utf-8, or no charset).'), undefined);
      return;
    }
    const encoding = request.headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      done(new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Send the body uncompressed (no Content-Encoding).'), undefined);
      return;
    }
    // Node decodes chunked only: a body sent with another transfer coding (`gzip, chunked`) would be
    // read as if it were plain.
    const transfer = request.headers['transfer-encoding'];
    if (transfer !== undefined && transfer.trim().toLowerCase() !== 'chunked') {
      done(new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Send the body without a transfer coding other than chunked.'), undefined);
      return;
    }
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      done(new ApiError('BAD_REQUEST', 'The body is not valid UTF-8.'), undefined);
      return;
    }
    parse(request, text, done);
  });
  app.addHook('preValidation', async (request) => {
    // An address no route serves is 404 whatever it was sent, not a refusal of the body.
    if (request.is404 || request.routeOptions.schema?.body !== undefined) return;
    const body: unknown = request.body;
    if (body === undefined || body === null) return;
    if (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0) return;
    throw new ApiError('VALIDATION_FAILED', 'This route takes no body.', [{ in: 'body', path: '/', message: 'this route takes no body' }]);
  });
}
