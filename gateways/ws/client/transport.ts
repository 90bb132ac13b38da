/**
 * The socket under the typed client (chat-socket.ts): a Connect function opens one and reports to
 * its handlers, so the same client runs over the browser's WebSocket or the `ws` package in Node.
 */

export interface TransportHandlers {
  open(): void;
  message(data: string): void;
  close(code: number, reason: string): void;
}

export interface Transport {
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** Opens a socket to `url` and reports to the handlers; credentials other than a ticket (a header) are its business. */
export type Connect = (url: string, handlers: TransportHandlers) => Transport;

interface BrowserSocket {
  onopen: (() => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** The platform WebSocket (browsers, Node 22+). Browsers send the session cookie themselves; a ticket works everywhere. */
export const browserConnect: Connect = (url, h) => {
  const Ctor = (globalThis as { WebSocket?: new (url: string) => BrowserSocket }).WebSocket;
  if (!Ctor) throw new Error('no global WebSocket: pass a Connect built on the ws package');
  const ws = new Ctor(url);
  ws.onopen = () => h.open();
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') h.message(ev.data);
  };
  ws.onclose = (ev) => h.close(ev.code, ev.reason);
  return { send: (d) => ws.send(d), close: (c, r) => ws.close(c, r) };
};

export class ChatSocketError extends Error {
  constructor(readonly code: string, message: string, readonly chatId?: string) {
    super(message);
    this.name = 'ChatSocketError';
  }
}
