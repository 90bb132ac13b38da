// The load generator's clients (load.ts): one socket of a bench user against each kind of server
// (ours, the Socket.IO baseline and the seed's Socket.IO, raw uWS), with what each one counts.
import { io, type Socket as IoSocket } from 'socket.io-client';
import WebSocket from 'ws';
import type { BenchUser, Mode } from './common.js';

/** One JSON line on stdout: how the generator reports to the orchestrator. */
export const out = (obj: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
};

export interface Endpoint {
  send(chatId: string, seq: number, body: string): void;
  close(): void;
}

export interface Handlers {
  /** A message arrived on this socket; `seq` is the sender's sequence number. */
  received(seq: number, senderId: string): void;
  acked(seq: number): void;
}

const seqOf = (clientMessageId: unknown): number => (typeof clientMessageId === 'string' && clientMessageId.startsWith('b') ? Number(clientMessageId.slice(1)) : -1);

/** Sends the gateway answered with CONCURRENCY_CONFLICT are sent again, as a client would (the clientMessageId makes it safe). */
export const retried = { count: 0 };
/** Sockets opened again after the server closed or refused them while connecting. */
export const reopened = { count: 0 };
/** Resume frames the gateway left unanswered for 5 s (and that were sent again). */
export const unansweredResumes = { count: 0 };
/** Sends a gateway at capacity refused (SERVICE_UNAVAILABLE): counted, not resent (they show as lost). */
export const refused = { count: 0 };
/**
 * BENCH_WS_RECEIPTS=1 (ours only): every recipient marks each message read as it arrives (a `read`
 * frame up to its revision), as a chat page in view would; `readsSent` counts them.
 */
export const RECEIPTS = process.env['BENCH_WS_RECEIPTS'] === '1';
export const readsSent = { count: 0 };

function openOurs(url: string, user: BenchUser, chatId: string | null, h: Handlers): Promise<Endpoint> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}/ws`, { headers: { authorization: `Bearer ${user.token}` }, perMessageDeflate: false });
    const unacked = new Map<number, string>();
    let resumed = false;
    ws.once('error', reject);
    // Closed by the server before it answered the resume: said, and rejected, so the caller may retry.
    ws.once('close', (code: number, reason: Buffer) => {
      if (resumed || !chatId) return;
      out({ event: 'closed-before-ready', user: user.userId, code, reason: reason.toString() });
      reject(new Error(`closed before ready: ${code}`));
    });
    ws.on('message', (data: Buffer) => {
      const f = JSON.parse(data.toString()) as { type: string; ref?: string; code?: string; chatId?: string; revision?: number; record?: { data: Record<string, unknown> } };
      if (f.type === 'event' && f.record) {
        const sender = String(f.record.data['senderId']);
        h.received(seqOf(f.record.data['clientMessageId']), sender);
        if (RECEIPTS && sender !== user.userId && f.chatId && f.revision !== undefined) {
          readsSent.count++;
          ws.send(`{"type":"read","chatId":${JSON.stringify(f.chatId)},"revision":${f.revision}}`);
        }
      }
      else if (f.type === 'ack' && f.ref) {
        unacked.delete(Number(f.ref));
        h.acked(Number(f.ref));
      } else if (f.type === 'resumed') {
        resumed = true;
        resolve(endpoint);
      }
      else if (f.type === 'error' && f.code === 'CONCURRENCY_CONFLICT' && f.ref && unacked.has(Number(f.ref))) {
        retried.count++;
        const frame = unacked.get(Number(f.ref))!;
        setTimeout(() => ws.send(frame), 2 + Math.random() * 10);
      } else if (f.type === 'error' && f.code === 'SERVICE_UNAVAILABLE') refused.count++;
      else if (f.type === 'error') out({ event: 'server-error', frame: f });
    });
    const endpoint: Endpoint = {
      send: (chat, seq, body) => {
        const frame = `{"type":"send","ref":"${seq}","chatId":${JSON.stringify(chat)},"body":${JSON.stringify(body)},"clientMessageId":"b${seq}"}`;
        unacked.set(seq, frame);
        ws.send(frame);
      },
      close: () => ws.terminate(),
    };
    ws.once('open', () => {
      // Live events flow once the socket has said what it has (revision 0: ChatStarted).
      if (!chatId) return resolve(endpoint);
      const resume = JSON.stringify({ type: 'resume', chats: { [chatId]: 0 } });
      ws.send(resume);
      // A resume left unanswered is asked again, as a client would, and counted: the gateway should
      // answer every one, so a count above 0 in the `connected` line is worth a look.
      const again = setInterval(() => {
        if (resumed || ws.readyState !== WebSocket.OPEN) return clearInterval(again);
        unansweredResumes.count++;
        ws.send(resume);
      }, 5000);
    });
  });
}

function openSocketIo(url: string, user: BenchUser, chatId: string | null, h: Handlers): Promise<Endpoint> {
  return new Promise((resolve, reject) => {
    const socket: IoSocket = io(url, { transports: ['websocket'], auth: { token: user.token }, reconnection: false, forceNew: true });
    socket.once('connect_error', reject);
    socket.on('message', (m: { clientMessageId: string; senderId: string }) => h.received(seqOf(m.clientMessageId), m.senderId));
    const endpoint: Endpoint = {
      send: (chat, seq, body) => socket.emit('send', { chatId: chat, body, clientMessageId: `b${seq}` }, (ack: { ok: boolean }) => {
        if (ack.ok) h.acked(seq);
      }),
      close: () => socket.disconnect(),
    };
    socket.once('connect', () => {
      if (!chatId) return resolve(endpoint);
      socket.emit('join', chatId, (ok: boolean) => (ok ? resolve(endpoint) : reject(new Error('join refused'))));
    });
  });
}

function openRaw(url: string, user: BenchUser, chatId: string | null, h: Handlers): Promise<Endpoint> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}/?user=${encodeURIComponent(user.userId)}&chat=${encodeURIComponent(chatId ?? '')}`, { perMessageDeflate: false });
    ws.once('error', reject);
    ws.on('message', (data: Buffer) => {
      const f = JSON.parse(data.toString()) as { type: string; seq?: number; clientMessageId?: string; senderId?: string };
      if (f.type === 'msg') h.received(seqOf(f.clientMessageId), String(f.senderId));
      else if (f.type === 'ack') h.acked(Number(f.seq));
    });
    ws.once('open', () => resolve({
      send: (chat, seq, body) => ws.send(`{"chatId":${JSON.stringify(chat)},"body":${JSON.stringify(body)},"clientMessageId":"b${seq}","seq":${seq}}`),
      close: () => ws.terminate(),
    }));
  });
}

export const OPENERS: Record<Mode, typeof openOurs> = { ours: openOurs, socketio: openSocketIo, raw: openRaw, seed: openSocketIo };
