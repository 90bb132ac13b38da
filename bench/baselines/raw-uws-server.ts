// Upper limit for bench/ws: raw uWebSockets.js pub/sub with nothing behind it. A socket names its
// user and chat in the query string, is subscribed to the chat's topic, and every message is
// published to that topic (both participants, like our gateway) and acknowledged. No persistence,
// no authentication, no ordering or resume guarantees: the cost of the transport alone.
// Env: PORT (0: any). Prints {"event":"listening","port":N} on stdout.
import uWS from 'uWebSockets.js';

interface Data {
  user: string;
  chat: string;
}

const app = uWS.App();
app.ws<Data>('/*', {
  compression: uWS.DISABLED,
  maxPayloadLength: 16 * 1024,
  idleTimeout: 60,
  maxBackpressure: 1024 * 1024,
  upgrade: (res, req, context) => {
    res.upgrade<Data>(
      { user: req.getQuery('user') ?? '', chat: req.getQuery('chat') ?? '' },
      req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context,
    );
  },
  open: (ws) => {
    const { chat, user } = ws.getUserData();
    if (chat && chat.split(':').includes(user)) ws.subscribe(chat);
  },
  message: (ws, message) => {
    const { user } = ws.getUserData();
    let m: { chatId?: unknown; body?: unknown; clientMessageId?: unknown; seq?: unknown };
    try {
      m = JSON.parse(Buffer.from(message).toString('utf8')) as typeof m;
    } catch {
      return;
    }
    if (typeof m.chatId !== 'string' || !m.chatId.split(':').includes(user)) return;
    app.publish(m.chatId, JSON.stringify({ type: 'msg', chatId: m.chatId, senderId: user, clientMessageId: m.clientMessageId, body: m.body }));
    ws.send(`{"type":"ack","seq":${Number(m.seq)}}`);
  },
});
app.listen('127.0.0.1', Number(process.env['PORT'] ?? 0), (socket) => {
  if (!socket) throw new Error('cannot listen');
  process.stdout.write(`${JSON.stringify({ event: 'listening', port: uWS.us_socket_local_port(socket as unknown as uWS.us_socket) })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
