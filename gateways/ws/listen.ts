import { setTimeout as sleep } from 'node:timers/promises';
import type uWS from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { WsConfig } from './config.js';

/**
 * uWS (this build) listens with SO_REUSEPORT, so a gateway restarted on its fixed port binds at
 * once, beside the TIME_WAIT connections of a process killed a moment ago and even beside a
 * predecessor that still runs (test/ws/restart.test.ts). One case still fails the bind: the
 * previous process had asked for port 0 and been given this port, whose TIME_WAIT connections then
 * block an explicit bind for up to 60 s. So a busy port is retried for a while instead of failing.
 */
export async function listenWithRetry(app: uWS.TemplatedApp, config: WsConfig, logger: Logger): Promise<uWS.us_listen_socket> {
  const until = Date.now() + config.listenRetryMs;
  let warned = false;
  for (;;) {
    const socket = await new Promise<uWS.us_listen_socket | false>((resolve) => app.listen(config.host, config.port, resolve));
    if (socket) return socket;
    if (config.port === 0 || Date.now() >= until) throw new Error(`ws gateway cannot listen on ${config.host}:${config.port}`);
    if (!warned) logger.warn({ host: config.host, port: config.port, retryForMs: config.listenRetryMs }, 'ws port busy (connections of a previous process in TIME_WAIT?); retrying');
    warned = true;
    await sleep(500);
  }
}
