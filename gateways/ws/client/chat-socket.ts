/**
 * A small typed client of the gateway (docs/websocket.md), for browsers and Node alike: the socket
 * itself comes from a Connect function (browserConnect in transport.ts, or an adapter over the `ws` package).
 *
 * It keeps, per chat, the last revision it received, and after every (re)connect sends them in a
 * resume, so the gateway sends exactly what was missed. Sends are idempotent (clientMessageId), so
 * sends not yet acknowledged when a connection drops are sent again after the next resume.
 */
import type { AckFrame, ErrorFrame, EventFrame, IsTypingFrame, ParticipantErasedFrame, PresenceFrame, ResumedFrame, ServerFrame } from '../protocol.js';
import type { MarkedFrame } from '../read-frames.js';
import { ReadTracker, type ChatReadState } from './read-state.js';
import { ChatSocketError, type Connect, type Transport, type TransportHandlers } from './transport.js';

export type { ChatReadState } from './read-state.js';
export { browserConnect, ChatSocketError, type Connect, type Transport, type TransportHandlers } from './transport.js';

export type ChatSocketStatus = 'connecting' | 'open' | 'resumed' | 'closed' | 'ended';

export interface ChatSocketOptions {
  /** The gateway endpoint, e.g. ws://127.0.0.1:3001/ws; a function is asked again before each connect (to pick a gateway). */
  url: string | (() => string);
  connect: Connect;
  /** A fresh one-time ticket before each connect (POST /api/ws-ticket); omit when the transport authenticates. */
  ticket?: () => Promise<string>;
  /** Revisions already held per chat (from storage or the HTTP history): only what follows is sent. */
  revisions?: Record<string, number>;
  onEvent?: (event: EventFrame) => void;
  /** Errors not answering a send (a resume naming a foreign chat, a rate limit …). */
  onError?: (error: ErrorFrame) => void;
  onStatus?: (status: ChatSocketStatus, detail?: { code?: number; reason?: string }) => void;
  /** The other participant of a chat is typing (see typing()). */
  onTyping?: (frame: IsTypingFrame) => void;
  /** Presence of watched users: the answer to watch() (after every reconnect too), then each change. */
  onPresence?: (frame: PresenceFrame) => void;
  /** A chat's other participant erased their account (live, and again after each resume): it takes no new messages. */
  onParticipantErased?: (frame: ParticipantErasedFrame) => void;
  /** Who this socket's user is: with it, the client keeps each chat's read state (readState, onReadState). */
  userId?: string;
  /** A chat's read state changed: a receipt (mine or the other's), an unread count, a new message. */
  onReadState?: (chatId: string, state: ChatReadState) => void;
  /** Reconnect backoff; false: stay closed. */
  reconnect?: { minMs: number; maxMs: number } | false;
}

interface PendingSend {
  frame: string;
  conflicts: number;
  resolve: (ack: AckFrame) => void;
  reject: (err: ChatSocketError) => void;
}

/** How often a send answered CONCURRENCY_CONFLICT is tried again before the error reaches the caller. */
const CONFLICT_RETRIES = 3;

/** Close reasons after which reconnecting is pointless: the session is over. */
const FINAL_REASONS = new Set(['SESSION_ENDED']);

export class ChatSocket {
  readonly #opts: ChatSocketOptions;
  readonly #revisions = new Map<string, number>();
  readonly #pending = new Map<string, PendingSend>();
  /** `read` frames awaiting their `marked`, by ref. */
  readonly #reads = new Map<string, { frame: string; resolve: (f: MarkedFrame) => void; reject: (err: ChatSocketError) => void }>();
  /** Each chat's read state, kept when the options name the user (userId). */
  readonly readState: ReadTracker | null;
  #transport: Transport | null = null;
  #status: ChatSocketStatus = 'closed';
  #stopped = false;
  /** Why the socket ended (close(), or a session that ended): what a request made after that is refused with. */
  #ended: ChatSocketError | null = null;
  #attempt = 0;
  #seq = 0;
  /** Ref of the resume in flight ('' when none). */
  #resumeRef = '';
  /** Chats to ask for in the next resume (followed, or with a gap to repair). */
  readonly #toAsk = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #started: { resolve: () => void; reject: (e: Error) => void } | null = null;
  /** Chats whose other participant's presence is watched (sent again on every connection); null: none asked. */
  #watching: string[] | null = null;
  /** Events at or below the revision already held: the gateway promises none, so a test can assert this stays 0. */
  duplicatesIgnored = 0;
  /** Events that skipped revisions (repaired by asking again); the gateway never sends them for a chat the client named. */
  gapsSeen = 0;

  constructor(opts: ChatSocketOptions) {
    this.#opts = opts;
    for (const [chatId, rev] of Object.entries(opts.revisions ?? {})) this.#revisions.set(chatId, rev);
    this.readState = opts.userId === undefined ? null : new ReadTracker(opts.userId, (chatId, state) => opts.onReadState?.(chatId, state));
  }

  get status(): ChatSocketStatus {
    return this.#status;
  }

  /** Connects; resolves once the first resume is answered (the backlog has arrived). */
  start(): Promise<void> {
    this.#stopped = false;
    this.#ended = null;
    return new Promise((resolve, reject) => {
      this.#started = { resolve, reject };
      void this.#connect();
    });
  }

  /** The last revision held per chat. */
  revisions(): Record<string, number> {
    return Object.fromEntries(this.#revisions);
  }

  /** Follows a chat from `revision` (-1: from its start) on this and every later connection. */
  follow(chatId: string, revision = -1): void {
    if (this.#revisions.has(chatId)) return;
    this.#revisions.set(chatId, revision);
    this.#askFor(chatId);
  }

  /**
   * Asks the gateway for what follows the revision held of a chat. The gateway serves one resume at
   * a time, so this waits behind one in flight (a connect's resume names every chat anyway).
   */
  #askFor(chatId: string): void {
    this.#toAsk.add(chatId);
    if (this.#status === 'resumed' && this.#resumeRef === '') this.#sendResume(this.#takeAsks());
  }

  /** Sends a message; resolves with the ack (duplicate: true when this clientMessageId was already accepted). */
  send(input: { chatId: string; body: string; clientMessageId?: string }): Promise<AckFrame> {
    const ref = `s${++this.#seq}`;
    const clientMessageId = input.clientMessageId ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}-${this.#seq}`;
    const frame = JSON.stringify({ type: 'send', ref, chatId: input.chatId, body: input.body, clientMessageId });
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => {
      this.#pending.set(ref, { frame, conflicts: 0, resolve, reject });
      if (this.#status === 'resumed') this.#transport?.send(frame);
    });
  }

  /**
   * Edits one of my messages (docs/websocket.md, "Editing and deleting"); resolves with the ack, whose
   * revision is the MessageEdited event's. Sent again after a reconnect, like send(): clientEditId makes it safe.
   */
  editMessage(input: { chatId: string; messageId: string; body: string; clientEditId?: string }): Promise<AckFrame> {
    const ref = `e${++this.#seq}`;
    const clientEditId = input.clientEditId ?? this.#clientId();
    return this.#request(ref, JSON.stringify({ type: 'edit', ref, chatId: input.chatId, messageId: input.messageId, body: input.body, clientEditId }));
  }

  /** Deletes one of my messages for everyone; resolves with the ack (the MessageDeleted event's revision). */
  deleteMessage(input: { chatId: string; messageId: string; clientDeleteId?: string }): Promise<AckFrame> {
    const ref = `d${++this.#seq}`;
    const clientDeleteId = input.clientDeleteId ?? this.#clientId();
    return this.#request(ref, JSON.stringify({ type: 'delete', ref, chatId: input.chatId, messageId: input.messageId, clientDeleteId }));
  }

  #clientId(): string {
    return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}-${this.#seq}`;
  }

  /** A request answered by `ack` or `error`, kept pending (and resent after a reconnect) like a send. */
  #request(ref: string, frame: string): Promise<AckFrame> {
    // Queued after the end, it would wait for a connection that never comes, and the caller would never hear.
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => {
      this.#pending.set(ref, { frame, conflicts: 0, resolve, reject });
      if (this.#status === 'resumed') this.#transport?.send(frame);
    });
  }

  /**
   * Tells the other participant of the chat that the user is typing. Fire and forget: nothing is sent
   * while disconnected, and a refusal (TYPING_RATE_LIMITED: more than a few a second) reaches onError.
   * Call it at most every few seconds while the user types.
   */
  typing(chatId: string): void {
    if (this.#status === 'resumed') this.#transport?.send(JSON.stringify({ type: 'typing', chatId }));
  }

  /**
   * Follows the presence of the other participant of each chat (replacing the previous list; at most
   * 1000). The answer and every change arrive through onPresence; the list is asked again after
   * each reconnect.
   */
  watch(chatIds: readonly string[]): void {
    this.#watching = [...new Set(chatIds)];
    if (this.#status === 'resumed') this.#sendWatch();
  }

  /**
   * Marks a chat read up to a revision (monotonic: at or below the mark, nothing changes and
   * `changed` is false). Waits for the connection like send(); sent again after a reconnect.
   */
  markRead(chatId: string, revision: number): Promise<MarkedFrame> {
    const ref = `m${++this.#seq}`;
    const frame = JSON.stringify({ type: 'read', ref, chatId, revision });
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => {
      this.#reads.set(ref, { frame, resolve, reject });
      if (this.#status === 'resumed') this.#transport?.send(frame);
    });
  }

  /** Closes for good (until start() again); unacknowledged sends are rejected, and so is every request made after. */
  close(): void {
    this.#ended ??= new ChatSocketError('CLOSED', 'The socket is closed.');
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#transport?.close(1000, 'bye');
    this.#transport = null;
    this.#setStatus('ended');
    for (const p of this.#pending.values()) p.reject(new ChatSocketError('CLOSED', 'The socket was closed before the ack.'));
    this.#pending.clear();
    for (const r of this.#reads.values()) r.reject(new ChatSocketError('CLOSED', 'The socket was closed before the answer.'));
    this.#reads.clear();
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    this.#setStatus('connecting');
    let url: string;
    try {
      url = typeof this.#opts.url === 'string' ? this.#opts.url : this.#opts.url();
    } catch {
      this.#scheduleReconnect(); // no gateway to go to right now
      return;
    }
    if (this.#opts.ticket) {
      try {
        const ticket = await this.#opts.ticket();
        url += `${url.includes('?') ? '&' : '?'}ticket=${encodeURIComponent(ticket)}`;
      } catch (err) {
        this.#fail(new ChatSocketError('UNAUTHENTICATED', `No ticket: ${err instanceof Error ? err.message : String(err)}`));
        return;
      }
    }
    if (this.#stopped) return;
    let transport: Transport | null = null;
    const handlers: TransportHandlers = {
      open: () => {
        if (this.#transport !== transport) return;
        this.#attempt = 0;
        this.#setStatus('open');
        this.#toAsk.clear();
        this.#sendResume(Object.fromEntries(this.#revisions));
      },
      message: (data) => {
        if (this.#transport === transport) this.#onFrame(data);
      },
      close: (code, reason) => {
        if (this.#transport !== transport) return;
        this.#transport = null;
        this.#resumeRef = '';
        this.#setStatus('closed', { code, reason });
        if (FINAL_REASONS.has(reason)) return this.#fail(new ChatSocketError('SESSION_ENDED', 'The session ended; log in again.'));
        this.#scheduleReconnect();
      },
    };
    try {
      transport = this.#opts.connect(url, handlers);
    } catch {
      this.#scheduleReconnect();
      return;
    }
    this.#transport = transport;
  }

  #scheduleReconnect(): void {
    const policy = this.#opts.reconnect ?? { minMs: 250, maxMs: 10_000 };
    if (this.#stopped || policy === false) return;
    // Exponential backoff with full jitter: a restarted gateway is not hit by every client at once.
    const cap = Math.min(policy.maxMs, policy.minMs * 2 ** Math.min(this.#attempt++, 16));
    const delay = policy.minMs + Math.random() * (cap - policy.minMs);
    this.#timer = setTimeout(() => void this.#connect(), delay);
  }

  #fail(err: ChatSocketError): void {
    this.#ended = err;
    this.#started?.reject(err);
    this.#started = null;
    this.close();
  }

  /** Sends a resume; the first answered on a connection marks it ready. */
  #sendResume(chats: Record<string, number>): void {
    this.#resumeRef = `r${++this.#seq}`;
    this.#transport?.send(JSON.stringify({ type: 'resume', ref: this.#resumeRef, chats }));
  }

  #onFrame(data: string): void {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(data) as ServerFrame;
    } catch {
      return;
    }
    switch (frame.type) {
      case 'event':
        return this.#onEvent(frame);
      case 'ack': {
        const p = frame.ref === undefined ? undefined : this.#pending.get(frame.ref);
        if (p && frame.ref !== undefined) {
          this.#pending.delete(frame.ref);
          p.resolve(frame);
        }
        return;
      }
      case 'error': {
        const read = frame.ref === undefined ? undefined : this.#reads.get(frame.ref);
        if (read && frame.ref !== undefined) {
          this.#reads.delete(frame.ref);
          return read.reject(new ChatSocketError(frame.code, frame.message, frame.chatId));
        }
        const p = frame.ref === undefined ? undefined : this.#pending.get(frame.ref);
        if (p && frame.ref !== undefined && frame.code === 'CONCURRENCY_CONFLICT' && p.conflicts < CONFLICT_RETRIES) {
          // Another process wrote to the chat at the same moment; the send is idempotent, so try again shortly.
          p.conflicts++;
          setTimeout(() => { if (this.#pending.get(frame.ref!) === p && this.#status === 'resumed') this.#transport?.send(p.frame); }, 5 + Math.random() * 20 * p.conflicts);
        } else if (p && frame.ref !== undefined) {
          this.#pending.delete(frame.ref);
          p.reject(new ChatSocketError(frame.code, frame.message, frame.chatId));
        } else {
          // Only a resume's refusal (refs r…) means the chat cannot be followed; a typing or watch refusal does not.
          const ofResume = frame.ref?.startsWith('r') === true;
          if (ofResume && frame.chatId !== undefined && (frame.code === 'CHAT_NOT_FOUND' || frame.code === 'NOT_A_PARTICIPANT')) this.#revisions.delete(frame.chatId);
          this.#opts.onError?.(frame);
        }
        return;
      }
      case 'resumed':
        return this.#onResumed(frame);
      case 'is_typing':
        return this.#opts.onTyping?.(frame);
      case 'presence':
        return this.#opts.onPresence?.(frame);
      case 'marked': {
        const read = frame.ref === undefined ? undefined : this.#reads.get(frame.ref);
        if (read && frame.ref !== undefined) {
          this.#reads.delete(frame.ref);
          read.resolve(frame);
        }
        return;
      }
      case 'receipt':
        return this.readState?.onReceipt(frame);
      case 'unread':
        return this.readState?.onUnread(frame);
      case 'participant_erased':
        return this.#opts.onParticipantErased?.(frame);
    }
  }

  #onEvent(e: EventFrame): void {
    const held = this.#revisions.get(e.chatId);
    if (held !== undefined && e.revision <= held) {
      this.duplicatesIgnored++;
      return;
    }
    if (held !== undefined && e.revision !== held + 1) {
      // Something in between is missing (a chat followed while its live events were already coming):
      // keep what is held and ask for the rest, which comes in order.
      this.gapsSeen++;
      this.#askFor(e.chatId);
      return;
    }
    this.#revisions.set(e.chatId, e.revision);
    this.readState?.onEvent(e);
    this.#opts.onEvent?.(e);
  }

  #onResumed(frame: ResumedFrame): void {
    if (frame.ref !== this.#resumeRef) return;
    this.#resumeRef = '';
    if (this.#status !== 'resumed') {
      this.#setStatus('resumed');
      // Sends from before a reconnect go again: the gateway answers a repeated clientMessageId with the first ack.
      for (const p of this.#pending.values()) this.#transport?.send(p.frame);
      for (const r of this.#reads.values()) this.#transport?.send(r.frame);
      if (this.#watching) this.#sendWatch();
      this.#started?.resolve();
      this.#started = null;
    }
    if (this.#toAsk.size > 0) this.#sendResume(this.#takeAsks());
  }

  #sendWatch(): void {
    this.#transport?.send(JSON.stringify({ type: 'watch', ref: `w${++this.#seq}`, chats: this.#watching ?? [] }));
  }

  /** The chats to ask for, each with the revision held now (not when it was queued). */
  #takeAsks(): Record<string, number> {
    const chats: Record<string, number> = {};
    for (const chatId of this.#toAsk) chats[chatId] = this.#revisions.get(chatId) ?? -1;
    this.#toAsk.clear();
    return chats;
  }

  #setStatus(status: ChatSocketStatus, detail?: { code?: number; reason?: string }): void {
    this.#status = status;
    this.#opts.onStatus?.(status, detail);
  }
}
