// The whole service in this process, the way `chat start` runs it on the embedded default (SQLite
// files in a temp DATA_DIR, the in-memory last-messages view, projections fed from the store), on
// random ports: the HTTP API, the WebSocket gateway and the web pages.
//
// The pages are registered in the API app when buildHttpApp takes the `web` option. Where it does
// not (yet), they live on a second fastify instance (with helmet, like the API) and one HTTP server
// routes each request to one of the two apps by path, so pages and /api/* still share one origin.
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import helmet from '@fastify/helmet';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { CommandDeps } from '../../commands/deps.js';
import { sendMessage } from '../../commands/send-message.js';
import { startChat } from '../../commands/start-chat.js';
import { buildHttpApp, type HttpDeps } from '../../gateways/http/app.js';
import { accountEraser } from '../../gateways/service/account-erasure.js';
import { httpConfigFrom } from '../../gateways/service/from-config.js';
import { sqlReadModels } from '../../gateways/service/http-read-models.js';
import { webPlugin, type WebOptions } from '../../gateways/web/plugin.js';
import { sameHostWsUrl } from '../../gateways/web/ws-url.js';
import { startWsGateway, type WsGateway } from '../../gateways/ws/server.js';
import { loadConfig, openCommandSide, openReadSide, openSessions, type CommandSide } from '../../gateways/service/wiring.js';
import { keepFresh } from '../../commands/handle-command.js';
import { MemoryLastMessagesView } from '../../infra/last-messages/memory.js';
import { scrubBodiesOf } from '../../infra/read-models/queries/erasure.js';
import { createLogger } from '../../infra/logger.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { LastMessagesProjection } from '../../projections/last-messages.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { createStoreFeed } from '../../projections/runtime/store-feed.js';
import type { Browser } from 'playwright-core';
import { ARTIFACTS, launchChromium, registerThroughApi } from './browser.js';
import { MemoryPresenceBus } from '../../infra/presence/memory.js';

/** Paths the pages answer; everything else goes to the API app. */
const WEB_PATH = /^\/(?:$|login$|register$|profile$|chat$|assets\/)/;

export interface WebService {
  /** http://127.0.0.1:<port> */
  url: string;
  gateway: WsGateway;
  rt: CommandSide;
  commands: CommandDeps;
  logs: string[];
  /** Starts a chat as the write side would (no browser, no password hashing). */
  startChat(a: string, b: string): Promise<string>;
  /** Appends messages straight through the command handler (fast seeding), then waits for the read side. */
  seed(senderId: string, chatId: string, bodies: string[]): Promise<void>;
  /** Resolves when the last-messages view and the SQL read models have applied the whole log. */
  settle(): Promise<void>;
  /** Ends every session of the user, as a logout everywhere or an erasure does. */
  endSessions(userId: string): Promise<void>;
  stop(): Promise<void>;
}

type Stop = () => Promise<unknown>;

export async function startWebService(name: string): Promise<WebService> {
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-web-'));
  const logs: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { logs.push(chunk.toString()); cb(); } });
  const config = loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'info' });
  const logger = createLogger({ level: 'info', name: `web-test-${name}` }, sink);
  const stops: Stop[] = [async () => rmSync(dir, { recursive: true, force: true })];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    stops.length = 0;
    // The service's log, for a person looking into a failure.
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(path.join(ARTIFACTS, `${name}.service.log`), logs.join(''));
  };
  try {
    const rt = await openCommandSide(config, logger);
    stops.push(() => rt.close());
    const orm = await openReadSide(config, logger);
    stops.push(() => orm.close());
    const view = new MemoryLastMessagesView();
    stops.push(() => view.close());
    const projection = new LastMessagesProjection({ store: rt.store, view, logger });
    projection.start();
    stops.push(() => projection.stop());
    const feed = createStoreFeed({ store: rt.store, projector: createSqlProjector({ db: orm.db, projections: SQL_PROJECTIONS, logger }), logger });
    void feed.start();
    stops.push(() => feed.stop());
    const sessions = await openSessions(config);
    stops.push(() => sessions.close());

    let gateway: WsGateway | null = null;
    const web: WebOptions = { wsUrl: sameHostWsUrl({ port: () => gateway?.port ?? 0, path: '/ws' }) };
    // Typed wider than HttpDeps on purpose: once buildHttpApp takes `web`, it serves the pages itself.
    const deps: HttpDeps & { web: WebOptions } = {
      commands: rt.commands, sessions, reads: sqlReadModels(orm), lastMessages: view, readiness: {},
      rateLimitRedis: null, config: { ...httpConfigFrom(config), docs: false }, logger, web,
      // As the composition root wires it (start-service.ts), for the profile page's "Erase my account".
      eraseAccount: accountEraser({ commands: rt.commands, keys: rt.keys, sessions, logger, scrubReadModels: (userId, erasedAt) => scrubBodiesOf(orm, userId, erasedAt), view }),
    };
    const api = await buildHttpApp(deps);
    stops.push(() => api.close());

    let pages: FastifyInstance | null = null;
    if (!api.hasRoute({ method: 'GET', url: '/login' })) {
      // Not wired into the API app (yet): serve the pages from a second app with the same helmet headers.
      const p = Fastify({ loggerInstance: logger as FastifyBaseLogger });
      await p.register(helmet);
      await p.register(webPlugin, web);
      await p.ready();
      stops.push(() => p.close());
      pages = p;
    }

    const server = http.createServer((req, res) => {
      const pathname = (req.url ?? '/').split('?', 1)[0]!;
      (pages && WEB_PATH.test(pathname) ? pages : api).routing(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    stops.push(() => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    gateway = await startWsGateway({
      store: rt.store, commands: rt.commands, sessions, lastMessages: view, logger,
      config: { port: 0, allowedOrigins: [url] },
      // As role all does (gateways/service/roles.ts): the gateway's feed keeps the command cache fresh.
      observeLog: keepFresh(rt.commands.bus),
      presence: new MemoryPresenceBus(),
    });
    const g = gateway;
    stops.push(() => g.close());

    // A page loaded after this shows the seeded messages in its first history page, not through
    // the socket's resume: what the tests count does not depend on timing.
    const settle = async (): Promise<void> => {
      const head = await rt.store.headPosition();
      await feed.waitFor(head, 10_000);
      const until = Date.now() + 10_000;
      while (BigInt(projection.status().checkpoint) < head) {
        if (Date.now() > until) throw new Error('last-messages projection did not catch up');
        await new Promise((r) => setTimeout(r, 10));
      }
    };

    return {
      url, gateway: g, rt, commands: rt.commands, logs, stop,
      async startChat(a, b) {
        const r = await startChat(rt.commands, { initiatorId: a, otherUsername: b });
        if (!r.ok) throw new Error(`startChat: ${r.error.code}`);
        return r.value.chatId;
      },
      async seed(senderId, chatId, bodies) {
        for (const body of bodies) {
          const r = await sendMessage(rt.commands, { senderId, chatId, body, clientMessageId: `seed-${randomUUID()}` });
          if (!r.ok) throw new Error(`seed: ${r.error.code}`);
        }
        await settle();
      },
      settle,
      async endSessions(userId) {
        await sessions.revokeAllForUser(userId);
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * How each browser test begins: a service and a browser of its own (both closed at the test's
 * teardown), with `users` registered through the API.
 */
export async function openWebTest(
  t: { teardown(fn: () => unknown): void }, name: string, users: string[] = [],
): Promise<{ svc: WebService; browser: Browser; base: string }> {
  const svc = await startWebService(name);
  t.teardown(() => svc.stop());
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  for (const u of users) await registerThroughApi(svc.url, u);
  return { svc, browser, base: svc.url };
}
