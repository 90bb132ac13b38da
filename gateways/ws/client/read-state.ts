/**
 * The read state of each chat as a client sees it: how far I and the other participant have read,
 * and my unread count, kept exact from the gateway's frames (docs/websocket.md, "Read receipts and
 * unread counts"). An `unread` frame counts the other participant's messages up to its `through`;
 * messages that arrive as events after that revision are counted here until the next `unread`.
 */
import type { EventFrame } from '../protocol.js';
import type { ReceiptFrame, UnreadFrame } from '../read-frames.js';

export interface ChatReadState {
  /** The revision I have read up to (0: nothing). */
  mine: number;
  /** The revision the other participant has read up to: my messages at or below it are read. */
  theirs: number;
  /** The other participant's messages after `mine`. */
  unread: number;
}

interface Tracked {
  mine: number;
  theirs: number;
  /** The last count from the gateway (or a seed), and the revision it was taken at. */
  base: number;
  baseThrough: number;
  /** Revisions of the other participant's messages after baseThrough, seen as events. */
  later: number[];
}

export class ReadTracker {
  readonly #chats = new Map<string, Tracked>();
  constructor(private readonly me: string, private readonly changed: (chatId: string, state: ChatReadState) => void) {}

  /** What the page knew before the socket (the chat list over HTTP, say). */
  seed(chatId: string, s: { mine: number; theirs: number; unread: number; through: number }): void {
    const t = this.#get(chatId);
    t.mine = Math.max(t.mine, s.mine);
    t.theirs = Math.max(t.theirs, s.theirs);
    if (s.through >= t.baseThrough) {
      t.base = s.unread;
      t.baseThrough = s.through;
      t.later = t.later.filter((r) => r > s.through);
    }
    this.#emit(chatId, t);
  }

  has(chatId: string): boolean {
    return this.#chats.has(chatId);
  }

  state(chatId: string): ChatReadState {
    return this.#view(this.#get(chatId));
  }

  /** Chat ids with a state, and their states. */
  all(): Record<string, ChatReadState> {
    return Object.fromEntries([...this.#chats].map(([id, t]) => [id, this.#view(t)]));
  }

  onEvent(e: EventFrame): void {
    if (e.record.type !== 'MessageSent') return;
    const sender = e.record.data['senderId'];
    if (sender === this.me) return;
    const t = this.#get(e.chatId);
    if (e.revision > t.baseThrough && !t.later.includes(e.revision)) {
      t.later.push(e.revision);
      this.#emit(e.chatId, t);
    }
  }

  onReceipt(f: ReceiptFrame): void {
    const t = this.#get(f.chatId);
    if (f.userId === this.me) {
      if (f.upToRevision <= t.mine) return;
      t.mine = f.upToRevision;
    } else {
      if (f.upToRevision <= t.theirs) return;
      t.theirs = f.upToRevision;
    }
    this.#emit(f.chatId, t);
  }

  onUnread(f: UnreadFrame): void {
    const t = this.#get(f.chatId);
    if (f.through < t.baseThrough) return;
    t.base = f.count;
    t.baseThrough = f.through;
    t.later = t.later.filter((r) => r > f.through);
    this.#emit(f.chatId, t);
  }

  #get(chatId: string): Tracked {
    let t = this.#chats.get(chatId);
    if (!t) this.#chats.set(chatId, (t = { mine: 0, theirs: 0, base: 0, baseThrough: 0, later: [] }));
    return t;
  }

  #view(t: Tracked): ChatReadState {
    // A base taken below my position is read as far as it goes; the gateway's next count replaces it.
    const base = t.mine >= t.baseThrough ? 0 : t.base;
    return { mine: t.mine, theirs: t.theirs, unread: base + t.later.filter((r) => r > t.mine).length };
  }

  #emit(chatId: string, t: Tracked): void {
    this.changed(chatId, this.#view(t));
  }
}
