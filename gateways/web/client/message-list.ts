/**
 * The messages of one chat on screen, in revision order, each shown once. Messages come from the
 * history pages (HTTP), from live events (WebSocket) and from this page's own sends, in any order
 * and possibly more than once: a revision already shown is skipped, and an own message waiting for
 * its ack is matched by its clientMessageId and then takes its place by revision.
 *
 * Every text is set with textContent (el()), never as HTML.
 */
import { el } from './dom.js';
import { timeElement } from './format.js';

export interface ShownMessage {
  revision: number;
  senderId: string;
  clientMessageId: string;
  body: string;
  sentAt: string;
}

type State = 'pending' | 'sent' | 'failed';

export class MessageList {
  readonly #list: HTMLOListElement;
  readonly #me: string;
  readonly #byRevision = new Map<number, HTMLLIElement>();
  /** Own messages without a revision yet, by clientMessageId. */
  readonly #pending = new Map<string, HTMLLIElement>();

  constructor(list: HTMLOListElement, me: string) {
    this.#list = list;
    this.#me = me;
  }

  get size(): number {
    return this.#byRevision.size;
  }

  has(revision: number): boolean {
    return this.#byRevision.has(revision);
  }

  /** Shows a stored message (history or live event); false when its revision is already shown. */
  add(m: ShownMessage): boolean {
    if (this.#byRevision.has(m.revision)) return false;
    const pending = m.senderId === this.#me ? this.#pending.get(m.clientMessageId) : undefined;
    let item: HTMLLIElement;
    if (pending) {
      this.#pending.delete(m.clientMessageId);
      item = pending;
      this.#fill(item, m, 'sent');
    } else {
      item = this.#create(m, 'sent');
    }
    this.#place(item, m.revision);
    return true;
  }

  /** Shows an own message as pending until it is acknowledged. */
  addPending(clientMessageId: string, body: string): void {
    const item = this.#create({ revision: -1, senderId: this.#me, clientMessageId, body, sentAt: new Date().toISOString() }, 'pending');
    this.#pending.set(clientMessageId, item);
    this.#list.append(item);
  }

  /** The gateway accepted an own message at this revision. */
  acked(clientMessageId: string, revision: number): void {
    const item = this.#pending.get(clientMessageId);
    if (!item) return; // its event came first and already put it in place
    this.#pending.delete(clientMessageId);
    if (this.#byRevision.has(revision)) {
      item.remove(); // a duplicate send: the first one is shown already
      return;
    }
    item.dataset['state'] = 'sent';
    item.querySelector('.state')?.remove();
    this.#place(item, revision);
  }

  failed(clientMessageId: string, reason: string): void {
    const item = this.#pending.get(clientMessageId);
    if (!item) return;
    this.#pending.delete(clientMessageId);
    item.dataset['state'] = 'failed';
    this.#setStateLabel(item, `Not sent: ${reason}`);
  }

  #create(m: ShownMessage, state: State): HTMLLIElement {
    const item = el('li', { className: `msg ${m.senderId === this.#me ? 'mine' : 'theirs'}` });
    this.#fill(item, m, state);
    return item;
  }

  #fill(item: HTMLLIElement, m: ShownMessage, state: State): void {
    item.dataset['state'] = state;
    item.dataset['clientMessageId'] = m.clientMessageId;
    if (m.revision >= 0) item.dataset['revision'] = String(m.revision);
    const sender = el('span', { className: 'sender fw-semibold', text: m.senderId === this.#me ? 'You' : m.senderId });
    const meta = el('div', { className: 'meta' }, [sender, document.createTextNode(' · '), timeElement(m.sentAt)]);
    item.replaceChildren(el('div', { className: 'bubble' }, [el('p', { className: 'body', text: m.body })]), meta);
    // For screen readers the visual layout is lost: say who wrote it first.
    item.setAttribute('aria-label', `${m.senderId === this.#me ? 'You' : m.senderId}: ${m.body}`);
    if (state === 'pending') this.#setStateLabel(item, 'Sending…');
  }

  #setStateLabel(item: HTMLLIElement, text: string): void {
    const meta = item.querySelector('.meta');
    let label = item.querySelector<HTMLElement>('.state');
    if (!label) {
      label = el('span', { className: 'state ms-1' });
      meta?.append(label);
    }
    label.textContent = text;
  }

  /** Puts an item at its revision: before the first shown revision above it, else before the pending ones. */
  #place(item: HTMLLIElement, revision: number): void {
    item.dataset['revision'] = String(revision);
    this.#byRevision.set(revision, item);
    // Older pages arrive newest first, each older than everything shown: put them on top at once.
    const first = this.#list.firstElementChild;
    if (first instanceof HTMLLIElement && first !== item && first.dataset['state'] === 'sent' && Number(first.dataset['revision']) > revision) {
      this.#list.prepend(item);
      return;
    }
    // Live messages are usually the newest: search from the end.
    let after: HTMLLIElement | null = null;
    for (let node = this.#list.lastElementChild; node; node = node.previousElementSibling) {
      if (!(node instanceof HTMLLIElement) || node === item) continue;
      const r = node.dataset['state'] === 'sent' ? Number(node.dataset['revision']) : Infinity;
      if (r < revision) {
        after = node;
        break;
      }
    }
    if (after) after.after(item);
    else this.#list.prepend(item);
  }
}
