/**
 * Refuses, before any route runs, an API query string that does not decode as UTF-8, and a path or
 * query parameter holding text no store can keep (U+0000 or an unpaired surrogate, see
 * domain/text.ts): such a value would otherwise reach
 * PostgreSQL and fail there as an error of ours (500, or 503 as if the database were down), while
 * SQLite would quietly answer. Bodies are left to the routes' schemas and the domain, which give
 * the precise codes (MESSAGE_INVALID_CHARACTERS, USERNAME_INVALID …).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isStorableText } from '../../../domain/text.js';
import { ApiError } from '../errors.js';
import { isApiPath, routedPath } from '../routed-path.js';

/** The name of the first parameter whose value (or one of its repeated values) cannot be stored. */
function firstUnstorable(values: unknown): string | null {
  if (typeof values !== 'object' || values === null) return null;
  for (const [name, value] of Object.entries(values)) {
    const texts: unknown[] = Array.isArray(value) ? value : [value];
    if (texts.some((v) => typeof v === 'string' && !isStorableText(v))) return name;
  }
  return null;
}

/**
 * The query string's parser decodes bytes that are not UTF-8 to U+FFFD, so a value would be read as
 * another one: refused as a path that does not decode is.
 */
function decodes(url: string): boolean {
  const at = url.indexOf('?');
  if (at < 0) return true;
  try {
    decodeURIComponent(url.slice(at + 1).replace(/\+/g, ' '));
    return true;
  } catch {
    return false;
  }
}

export function installStorableInput(app: FastifyInstance): void {
  app.addHook('preValidation', async (request: FastifyRequest) => {
    // Pages are left to their scripts (safe-next.ts), which refuse what they cannot use.
    if (!decodes(request.url) && isApiPath(routedPath(request.url))) throw new ApiError('BAD_REQUEST', 'The query string is not valid percent-encoded UTF-8.');
    for (const [where, values] of [['params', request.params], ['querystring', request.query]] as const) {
      const name = firstUnstorable(values);
      if (name === null) continue;
      // Names are the client's too (an unknown query parameter): only a storable one is echoed.
      const path = isStorableText(name) ? `/${name}` : '/';
      throw new ApiError('VALIDATION_FAILED', undefined, [{ in: where, path, message: 'must not contain U+0000 or unpaired surrogates' }]);
    }
  });
}
