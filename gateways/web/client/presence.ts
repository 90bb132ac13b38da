/**
 * Typing and presence on the pages (docs/websocket.md, "Typing and presence"): the words shown for
 * a user's presence, a throttle for the typing notices the composer sends, and the "… is typing"
 * line, which goes 5 s after the last notice or when that person's message arrives.
 */
import type { IsTypingFrame, PresenceFrame } from '../../ws/protocol.js';

export type UserPresence = PresenceFrame['users'][string];

/** The page sends at most one typing notice this often (the gateway allows a few a second). */
export const TYPING_SEND_EVERY_MS = 2_500;
/** A typing line goes this long after the last notice. */
export const TYPING_SHOWN_MS = 5_000;

/** "online", "last seen 5 minutes ago", …; '' when nothing is known (presence unavailable, never seen). */
export function presenceText(p: UserPresence | undefined, now = Date.now()): string {
  if (!p) return '';
  if (p.online) return 'online';
  if (p.lastSeen === null) return '';
  const at = Date.parse(p.lastSeen);
  if (Number.isNaN(at)) return '';
  const minutes = Math.floor(Math.max(0, now - at) / 60_000);
  if (minutes < 1) return 'last seen just now';
  if (minutes < 60) return `last seen ${minutes} minute${minutes === 1 ? '' : 's'} ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `last seen ${hours} hour${hours === 1 ? '' : 's'} ago`;
  const d = new Date(at);
  const sameYear = d.getFullYear() === new Date(now).getFullYear();
  return `last seen ${d.toLocaleDateString(undefined, sameYear ? { day: 'numeric', month: 'short' } : { day: 'numeric', month: 'short', year: 'numeric' })}`;
}

/** Presence of the users a page watches, kept from the socket's frames; `onChange` re-renders. */
export class PresenceBook {
  readonly #users = new Map<string, UserPresence>();
  constructor(private readonly onChange: () => void) {}

  apply(frame: PresenceFrame): void {
    // Unavailable (Redis is down): show nothing rather than something stale.
    if (!frame.available) this.#users.clear();
    for (const [u, p] of Object.entries(frame.users)) this.#users.set(u, p);
    this.onChange();
  }

  /** The socket is down: what was shown may be stale, so show nothing until the next answer. */
  forget(): void {
    this.#users.clear();
    this.onChange();
  }

  /** Shows the same again: "5 minutes ago" moves on by itself. */
  refresh(): void {
    this.onChange();
  }

  get(userId: string): UserPresence | undefined {
    return this.#users.get(userId);
  }
}

/** Calls `send` at most every TYPING_SEND_EVERY_MS while the user types. */
export function typingThrottle(send: () => void, now: () => number = Date.now): () => void {
  let last = -Infinity;
  return () => {
    const t = now();
    if (t - last < TYPING_SEND_EVERY_MS) return;
    last = t;
    send();
  };
}

/** The "alice is typing…" line of one chat. */
export class TypingLine {
  #timer: ReturnType<typeof setTimeout> | null = null;
  #who: string | null = null;

  constructor(private readonly line: HTMLElement) {}

  notice(frame: IsTypingFrame): void {
    this.#who = frame.userId;
    this.line.textContent = `${frame.userId} is typing…`;
    this.line.hidden = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.clear(), TYPING_SHOWN_MS);
  }

  /** Their message arrived (or the time is up). */
  messageFrom(senderId: string): void {
    if (senderId === this.#who) this.clear();
  }

  clear(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#who = null;
    this.line.hidden = true;
    this.line.textContent = '';
  }
}
