/**
 * The page's WebSocket: the typed client of the gateway (gateways/ws/client/chat-socket.ts, which
 * resumes every chat from the last revision it holds after each reconnect and drops repeated
 * revisions), fed with one-time tickets from POST /api/ws-ticket and aware of the browser's network
 * state, so a dropped network is noticed at once instead of when TCP gives up.
 */
import { browserConnect, ChatSocket, type ChatSocketOptions, type ChatSocketStatus, type Connect } from '../../ws/client/chat-socket.js';
import { api, ApiError } from './api.js';
import { sleep } from './dom.js';

export { ChatSocketError, type ChatSocket } from '../../ws/client/chat-socket.js';

/** Resolves when the browser says it is online. */
function whenOnline(): Promise<void> {
  if (navigator.onLine) return Promise.resolve();
  return new Promise((resolve) => window.addEventListener('online', () => resolve(), { once: true }));
}

/**
 * A fresh ticket for each connect. Network trouble is waited out here (retry with backoff, and
 * while offline until the browser is back online): a rejection would make the socket give up for
 * good, which only a refused session (401/403) should.
 */
export async function fetchTicket(): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    await whenOnline();
    try {
      return (await api<{ ticket: string }>('POST', '/api/ws-ticket')).ticket;
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) throw err;
      await sleep(Math.min(10_000, 250 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2));
    }
  }
}

/**
 * Wraps a Connect so that the browser going offline ends the current socket at once (reported as
 * an abnormal close, so the client reconnects and resumes when the network is back). Events from a
 * socket already given up are ignored.
 */
export function offlineAware(inner: Connect): Connect {
  return (url, handlers) => {
    let current = true;
    const detach = (): void => {
      current = false;
      window.removeEventListener('offline', onOffline);
    };
    const transport = inner(url, {
      open: () => { if (current) handlers.open(); },
      message: (data) => { if (current) handlers.message(data); },
      close: (code, reason) => {
        if (!current) return;
        detach();
        handlers.close(code, reason);
      },
    });
    function onOffline(): void {
      if (!current) return;
      detach();
      try {
        transport.close(1000, 'offline');
      } catch {
        // already closing
      }
      handlers.close(1006, 'OFFLINE');
    }
    window.addEventListener('offline', onOffline);
    return {
      send: (data) => { if (current) transport.send(data); },
      close: (code, reason) => {
        detach();
        transport.close(code, reason);
      },
    };
  };
}

export function wsUrlOfPage(): string {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="chat-ws-url"]');
  if (!meta?.content) throw new Error('the page names no WebSocket URL');
  return meta.content;
}

export type LiveOptions = Pick<ChatSocketOptions, 'revisions' | 'onEvent' | 'onError' | 'onStatus' | 'onTyping' | 'onPresence' | 'onParticipantErased' | 'userId' | 'onReadState'>;

export function openLive(opts: LiveOptions): ChatSocket {
  return new ChatSocket({
    url: wsUrlOfPage(),
    connect: offlineAware(browserConnect),
    ticket: fetchTicket,
    reconnect: { minMs: 250, maxMs: 5_000 },
    ...opts,
  });
}

export type ConnectionView = 'connecting' | 'syncing' | 'live' | 'reconnecting' | 'offline' | 'ended';

const LABELS: Record<ConnectionView, { text: string; badge: string }> = {
  connecting: { text: 'Connecting…', badge: 'text-bg-secondary' },
  syncing: { text: 'Syncing…', badge: 'text-bg-info' },
  live: { text: 'Live', badge: 'text-bg-success' },
  reconnecting: { text: 'Reconnecting…', badge: 'text-bg-warning' },
  offline: { text: 'Offline: will reconnect', badge: 'text-bg-warning' },
  ended: { text: 'Disconnected', badge: 'text-bg-danger' },
};

/** Shows the connection state in a badge (role=status, so it is announced). */
export class ConnectionBadge {
  #wasLive = false;
  constructor(private readonly badge: HTMLElement) {
    window.addEventListener('offline', () => this.#show('offline'));
  }

  update(status: ChatSocketStatus): void {
    if (status === 'resumed') this.#wasLive = true;
    const view: ConnectionView =
      status === 'resumed' ? 'live'
        : status === 'open' ? 'syncing'
          : status === 'ended' ? 'ended'
            : !navigator.onLine ? 'offline'
              : this.#wasLive || status === 'closed' ? 'reconnecting' : 'connecting';
    this.#show(view);
  }

  #show(view: ConnectionView): void {
    const { text, badge } = LABELS[view];
    this.badge.className = `badge ${badge}`;
    this.badge.dataset['state'] = view;
    if (this.badge.textContent !== text) this.badge.textContent = text;
  }
}
