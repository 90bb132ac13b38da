/**
 * The web client as a fastify plugin: the pages (login, register, profile, chat) and their assets,
 * built in memory at registration (build.ts). Register it in the HTTP app, next to the API, so the
 * pages and /api/* share one origin (the session cookie is SameSite=Strict and the CSRF check
 * compares Origin with Host). The pages learn the WebSocket URL from a <meta> tag filled per request.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { loadAssets, type BuiltAssets, type PageName } from './build.js';
import { pageCsp } from './csp.js';
import { loadPages } from './pages.js';

export interface WebOptions {
  /**
   * The WebSocket gateway as browsers reach it: a fixed URL (ws://… or wss://…), or a function of
   * the page request (see sameHostWsUrl in ws-url.ts).
   */
  wsUrl: string | ((request: FastifyRequest) => string);
  /** Minify the bundles (default true). */
  minify?: boolean;
}

/** One build per process and setting: several apps in one process (tests) share it. */
const builds = new Map<boolean, Promise<BuiltAssets>>();
function assetsFor(minify: boolean): Promise<BuiltAssets> {
  let p = builds.get(minify);
  if (!p) {
    p = loadAssets({ minify });
    builds.set(minify, p);
    // A failed build is not cached: the next registration tries again.
    p.catch(() => builds.delete(minify));
  }
  return p;
}

const PAGE_ROUTES: Record<string, PageName> = { '/login': 'login', '/register': 'register', '/profile': 'profile', '/chat': 'chat' };

export const webPlugin: FastifyPluginAsync<WebOptions> = async (app, opts) => {
  const assets = await assetsFor(opts.minify ?? true);
  const pages = loadPages(assets);
  app.log.info({ buildMs: assets.buildMs, files: assets.files.size }, 'web client built');
  const wsUrlOf = (request: FastifyRequest): string => (typeof opts.wsUrl === 'function' ? opts.wsUrl(request) : opts.wsUrl);
  // Not part of the API: kept out of the OpenAPI document.
  const schema = { hide: true };

  const sendPage = (name: PageName) => async (request: FastifyRequest, reply: FastifyReply) => {
    const wsUrl = wsUrlOf(request);
    return reply
      .header('content-type', 'text/html; charset=utf-8')
      // The shell holds no user data, but must follow the current build's asset names.
      .header('cache-control', 'no-cache')
      .header('content-security-policy', pageCsp({ wsUrl, https: request.protocol === 'https' }))
      .send(pages[name]({ wsUrl }));
  };

  app.get('/', { schema }, async (_request, reply) => reply.redirect('/profile'));
  for (const [url, name] of Object.entries(PAGE_ROUTES)) app.get(url, { schema }, sendPage(name));

  app.get('/assets/*', { schema }, async (request, reply) => {
    const asset = assets.files.get(request.url.split('?', 1)[0]!);
    // The app's own 404 (the API's error body), not a page of ours.
    if (!asset) return reply.callNotFound();
    void reply.header('content-type', asset.contentType).header('etag', asset.etag)
      // Names carry a content hash: a changed file gets a new name, so caching for good is safe.
      .header('cache-control', 'public, max-age=31536000, immutable');
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.send(asset.body);
  });
};
