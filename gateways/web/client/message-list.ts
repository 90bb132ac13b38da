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
import { MESSAGE_MAX_CHARS as MAX_BODY } from '../../../domain/chat.js';
import { hasVisibleText } from '../../../domain/text.js';

/** How much of a message its menu button names ("Message actions: …"). */
const MENU_EXCERPT_CHARS = 40;

export interface ShownMessage {
  revision: number;
  senderId: string;
  clientMessageId: string;
  body: string;
  sentAt: string;
  /** Known for stored messages; the menu's edit and delete act on it. */
  messageId?: string;
  edited?: boolean;
  deleted?: boolean;
}

/** What a message's menu asks the page to do (pages/chat.ts talks to the socket). */
export interface MessageActions {
  edit(messageId: string, body: string): Promise<void>;
  remove(messageId: string): Promise<void>;
}

type State = 'pending' | 'sent' | 'failed';

export class MessageList {
  readonly #list: HTMLOListElement;
  readonly #me: string;
  readonly #byRevision = new Map<number, HTMLLIElement>();
  /** Own messages without a revision yet, by clientMessageId. */
  readonly #pending = new Map<string, HTMLLIElement>();
  /** How far the other participant has read: own messages at or below it show as read. */
  #theirRead = 0;
  #newest = 0;
  readonly #byMessageId = new Map<string, HTMLLIElement>();
  /** Edits and deletes that arrived before their message was shown (an older page not loaded yet). */
  readonly #early = new Map<string, { body: string; deleted: boolean }>();
  readonly #actions: MessageActions | null;

  constructor(list: HTMLOListElement, me: string, actions: MessageActions | null = null) {
    this.#list = list;
    this.#me = me;
    this.#actions = actions;
    // A click anywhere but in a menu closes the open ones, as menus do.
    if (actions) document.addEventListener('click', (ev) => {
      if (!(ev.target instanceof Element) || !ev.target.closest('.msg-menu')) this.#closeMenus(null);
    });
  }

  /** A MessageEdited event: the message shows its new text and "edited". */
  edited(messageId: string, body: string): void {
    const item = this.#byMessageId.get(messageId);
    if (!item) {
      if (!this.#early.get(messageId)?.deleted) this.#early.set(messageId, { body, deleted: false });
      return;
    }
    if (item.dataset['deleted'] === 'true') return;
    item.dataset['edited'] = 'true';
    this.#setBody(item, body);
  }

  /** A MessageDeleted event: the message shows "message deleted" and loses its text and menu. */
  deleted(messageId: string): void {
    const item = this.#byMessageId.get(messageId);
    if (!item) {
      this.#early.set(messageId, { body: '', deleted: true });
      return;
    }
    item.dataset['deleted'] = 'true';
    delete item.dataset['edited'];
    this.#setBody(item, '');
  }

  /**
   * The other participant erased their account (participant_erased): what the page shows of theirs
   * reads "message erased" at once, as a reload would show it, not only from the next reload on.
   */
  erasedOther(): void {
    for (const item of this.#list.querySelectorAll<HTMLLIElement>(':scope > li.theirs')) {
      if (item.dataset['deleted'] === 'true') continue;
      delete item.dataset['edited'];
      this.#setBody(item, '');
    }
  }

  get size(): number {
    return this.#byRevision.size;
  }

  has(revision: number): boolean {
    return this.#byRevision.has(revision);
  }

  /** The highest revision shown (0: none). */
  get newest(): number {
    return this.#newest;
  }

  /** The other participant has read up to this revision (it only moves forward). */
  setTheirRead(upTo: number): void {
    if (upTo <= this.#theirRead) return;
    const from = this.#theirRead;
    this.#theirRead = upTo;
    for (const [revision, item] of this.#byRevision) if (revision > from && revision <= upTo) this.#receipt(item, revision);
  }

  /** Own stored messages say "Sent" (acknowledged) or "Read" (by the other participant). */
  #receipt(item: HTMLLIElement, revision: number): void {
    if (!item.classList.contains('mine') || item.dataset['state'] !== 'sent') return;
    const read = revision <= this.#theirRead;
    const state = read ? 'read' : 'sent';
    if (item.dataset['receipt'] === state) return;
    item.dataset['receipt'] = state;
    let label = item.querySelector<HTMLElement>('.receipt');
    if (!label) {
      label = el('span', { className: 'receipt ms-1' });
      item.querySelector('.meta')?.append(label);
    }
    label.textContent = read ? '· Read' : '· Sent';
    this.#describe(item);
  }

  /**
   * What a screen reader says of the item, from what it shows: its aria-label replaces its content, so
   * it names the sender, the text, "edited" and the receipt. The menu button names the message too, or
   * every message's would be just "Message actions".
   */
  #describe(item: HTMLLIElement): void {
    const who = item.classList.contains('mine') ? 'You' : item.querySelector('.sender')?.textContent ?? '';
    const text = item.querySelector('.body')?.textContent ?? '';
    const receipt = item.dataset['receipt'];
    item.setAttribute('aria-label', `${who}: ${text}${item.dataset['edited'] === 'true' ? ' (edited)' : ''}${receipt ? ` (${receipt})` : ''}`);
    const points = [...text];
    const excerpt = points.length > MENU_EXCERPT_CHARS ? `${points.slice(0, MENU_EXCERPT_CHARS).join('')}…` : text;
    item.querySelector('.msg-menu-toggle')?.setAttribute('aria-label', `Message actions: ${excerpt}`);
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
    if (m.messageId !== undefined && !this.#byMessageId.has(m.messageId)) this.#identify(item, m.messageId);
    return true;
  }

  /** Shows an own message as pending until it is acknowledged. */
  addPending(clientMessageId: string, body: string): void {
    const item = this.#create({ revision: -1, senderId: this.#me, clientMessageId, body, sentAt: new Date().toISOString() }, 'pending');
    this.#pending.set(clientMessageId, item);
    this.#list.append(item);
  }

  /** The gateway accepted an own message at this revision. */
  acked(clientMessageId: string, revision: number, messageId?: string): void {
    const item = this.#pending.get(clientMessageId);
    if (!item) return; // its event came first and already put it in place
    this.#pending.delete(clientMessageId);
    if (this.#byRevision.has(revision)) {
      item.remove(); // a duplicate send: the first one is shown already
      return;
    }
    item.dataset['state'] = 'sent';
    item.querySelector('.state')?.remove();
    if (messageId !== undefined) this.#identify(item, messageId);
    this.#place(item, revision);
  }

  /** Ties an item to its message id: changes find it, and its menu appears if it is mine. */
  #identify(item: HTMLLIElement, messageId: string): void {
    item.dataset['messageId'] = messageId;
    this.#byMessageId.set(messageId, item);
    const early = this.#early.get(messageId);
    if (early) {
      this.#early.delete(messageId);
      if (early.deleted) this.deleted(messageId);
      else this.edited(messageId, early.body);
    } else {
      this.#menu(item);
    }
  }

  /** The body, the "edited" mark and the menu as the item's data says. */
  #setBody(item: HTMLLIElement, text: string): void {
    const deleted = item.dataset['deleted'] === 'true';
    const erased = !deleted && text === '';
    const body = deleted || erased
      ? el('p', { className: 'body fst-italic text-body-secondary', text: deleted ? 'message deleted' : 'message erased' })
      : el('p', { className: 'body', text, attrs: { dir: 'auto' } });
    item.querySelector('.bubble')?.replaceChildren(body);
    // A deleted message has nothing left to edit: an edit's error next to it would only mislead.
    if (deleted) item.querySelector('.change-error')?.remove();
    let mark = item.querySelector<HTMLElement>('.edited');
    if (item.dataset['edited'] === 'true') {
      if (!mark) {
        mark = el('span', { className: 'edited ms-1', text: '· edited' });
        item.querySelector('.meta time')?.after(mark);
      }
    } else {
      mark?.remove();
    }
    this.#menu(item);
    this.#describe(item);
  }

  /**
   * Own stored messages get a menu (Edit, Delete); a deleted one loses it. Edit turns the bubble into
   * a small form; its Save goes through the page (the socket), and the event then shows the result.
   */
  #menu(item: HTMLLIElement): void {
    const actions = this.#actions;
    const messageId = item.dataset['messageId'];
    const existing = item.querySelector('.msg-menu');
    const wanted = actions !== null && messageId !== undefined && item.classList.contains('mine') && item.dataset['deleted'] !== 'true' && item.dataset['state'] === 'sent';
    if (!wanted) {
      existing?.remove();
      return;
    }
    if (existing) return;
    const toggle = el('button', { className: 'btn btn-sm btn-link p-0 ms-1 msg-menu-toggle', text: '⋯', attrs: { type: 'button', 'aria-label': 'Message actions', 'aria-expanded': 'false' } });
    const editButton = el('button', { className: 'btn btn-sm btn-outline-secondary', text: 'Edit', attrs: { type: 'button' } });
    const deleteButton = el('button', { className: 'btn btn-sm btn-outline-danger ms-1', text: 'Delete', attrs: { type: 'button' } });
    const panel = el('span', { className: 'msg-menu-items ms-1' }, [editButton, deleteButton]);
    panel.hidden = true;
    const menu = el('span', { className: 'msg-menu' }, [toggle, panel]);
    const close = (): void => {
      panel.hidden = true;
      ask.hidden = true;
      toggle.setAttribute('aria-expanded', 'false');
      toggle.focus();
    };
    toggle.addEventListener('click', () => {
      // One menu open at a time.
      this.#closeMenus(menu);
      panel.hidden = !panel.hidden;
      toggle.setAttribute('aria-expanded', String(!panel.hidden));
      if (!panel.hidden) panel.scrollIntoView({ block: 'nearest' });
    });
    menu.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && (!panel.hidden || !ask.hidden)) {
        ev.preventDefault();
        close();
      }
    });
    const status = (text: string): void => {
      let label = item.querySelector<HTMLElement>('.change-error');
      if (!label) {
        label = el('span', { className: 'change-error text-danger ms-1', attrs: { role: 'alert' } });
        item.querySelector('.meta')?.append(label);
      }
      label.textContent = text;
      label.scrollIntoView({ block: 'nearest' });
    };
    // A change on its way: said under the message until its ack, since with the socket down it waits
    // for the connection (the typed client sends it then) and nothing else would show it was taken.
    const pending = (text: string | null): void => {
      let label = item.querySelector<HTMLElement>('.change-pending');
      if (text === null) return void label?.remove();
      if (!label) {
        label = el('span', { className: 'change-pending ms-1', attrs: { role: 'status' } });
        item.querySelector('.meta')?.append(label);
      }
      label.textContent = `· ${text}`;
    };
    // Asked in place, not with confirm(): no dialog ever opens on these pages.
    const sure = el('button', { className: 'btn btn-sm btn-danger ms-1', text: 'Delete for everyone', attrs: { type: 'button' } });
    const keep = el('button', { className: 'btn btn-sm btn-link', text: 'Keep', attrs: { type: 'button' } });
    const ask = el('span', { className: 'msg-delete-confirm ms-1' }, [sure, keep]);
    ask.hidden = true;
    panel.after(ask);
    deleteButton.addEventListener('click', () => {
      panel.hidden = true;
      ask.hidden = false;
      sure.focus();
    });
    keep.addEventListener('click', close);
    sure.addEventListener('click', () => {
      ask.hidden = true;
      sure.disabled = true;
      // The menu goes with the deleted message: keep the keyboard in the list, not back at the page's top.
      (this.#list.closest<HTMLElement>('[tabindex]') ?? this.#list).focus({ preventScroll: true });
      pending('Deleting…');
      actions.remove(messageId).then(() => pending(null), (err: unknown) => {
        pending(null);
        sure.disabled = false;
        status(`Not deleted: ${err instanceof Error ? err.message : String(err)}`);
      });
    });
    editButton.addEventListener('click', () => {
      panel.hidden = true;
      const bubble = item.querySelector<HTMLElement>('.bubble');
      if (!bubble || bubble.querySelector('form')) return;
      const current = bubble.querySelector('.body')?.textContent ?? '';
      const box = el('textarea', { className: 'form-control form-control-sm edit-input', attrs: { 'aria-label': 'Edit message', rows: '2' } });
      box.value = current;
      // Light buttons: the form sits in my own bubble, whose background is the primary colour.
      const save = el('button', { className: 'btn btn-sm btn-light mt-1', text: 'Save', attrs: { type: 'submit' } });
      const cancel = el('button', { className: 'btn btn-sm btn-outline-light mt-1 ms-1', text: 'Cancel', attrs: { type: 'button' } });
      const form = el('form', { className: 'edit-form' }, [box, save, cancel]);
      const restore = (): void => {
        form.remove();
        bubble.querySelector<HTMLElement>('.body')!.hidden = false;
        item.querySelector('.change-error')?.remove();
        toggle.focus();
      };
      bubble.querySelector<HTMLElement>('.body')!.hidden = true;
      bubble.append(form);
      // The newest message's form would open under the composer, its buttons and errors out of view.
      form.scrollIntoView({ block: 'nearest' });
      box.focus({ preventScroll: true });
      cancel.addEventListener('click', restore);
      // As in the composer: Enter saves, Shift+Enter is a new line, Enter while composing belongs to the IME; Escape cancels.
      box.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
          ev.preventDefault();
          form.requestSubmit();
        } else if (ev.key === 'Escape') {
          ev.preventDefault();
          restore();
        }
      });
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const text = box.value;
        if (!hasVisibleText(text)) {
          status('A message cannot be empty: delete it instead.');
          box.focus();
          return;
        }
        // As the service counts: code points, after trimming (a maxlength would count UTF-16 units).
        if ([...text.trim()].length > MAX_BODY) {
          status(`A message can have at most ${MAX_BODY} characters.`);
          box.focus();
          return;
        }
        if (text.trim() === current) return restore();
        item.querySelector('.change-error')?.remove();
        save.disabled = true;
        pending('Saving…');
        actions.edit(messageId, text).then(() => {
          pending(null);
          restore();
        }, (err: unknown) => {
          pending(null);
          save.disabled = false;
          status(`Not edited: ${err instanceof Error ? err.message : String(err)}`);
        });
      });
    });
    item.querySelector('.meta')?.append(menu);
    this.#describe(item);
  }

  /** Closes every open message menu (and delete question) but `except`'s, without moving the focus. */
  #closeMenus(except: Element | null): void {
    for (const menu of this.#list.querySelectorAll('.msg-menu')) {
      if (menu === except) continue;
      for (const part of menu.querySelectorAll<HTMLElement>('.msg-menu-items, .msg-delete-confirm')) part.hidden = true;
      menu.querySelector('.msg-menu-toggle')?.setAttribute('aria-expanded', 'false');
    }
  }

  /** Every message still waiting for its ack will not be sent (the session ended). */
  failAllPending(reason: string): void {
    for (const id of [...this.#pending.keys()]) this.failed(id, reason);
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
    delete item.dataset['receipt']; // the receipt label goes with the old children; #place sets it again
    item.dataset['clientMessageId'] = m.clientMessageId;
    if (m.revision >= 0) item.dataset['revision'] = String(m.revision);
    const sender = el('span', { className: 'sender fw-semibold', text: m.senderId === this.#me ? 'You' : m.senderId });
    const meta = el('div', { className: 'meta' }, [sender, document.createTextNode(' · '), timeElement(m.sentAt)]);
    item.replaceChildren(el('div', { className: 'bubble' }), meta);
    if (m.deleted) item.dataset['deleted'] = 'true';
    if (m.edited && !m.deleted) item.dataset['edited'] = 'true';
    // An empty body is a deleted message, or an erased sender's (docs/privacy.md): a sent body is never
    // empty. For screen readers the visual layout is lost: the label says who wrote it first.
    this.#setBody(item, m.body);
    if (state === 'pending') this.#setStateLabel(item, 'Sending…');
  }

  #setStateLabel(item: HTMLLIElement, text: string): void {
    const meta = item.querySelector('.meta');
    let label = item.querySelector<HTMLElement>('.state');
    if (!label) {
      label = el('span', { className: 'state ms-1' });
      meta?.append(label);
    }
    // Set off from the time as the receipt is ("11:41 · Read"): "11:41 · Sending…".
    label.textContent = `· ${text}`;
  }

  /** Puts an item at its revision: before the first shown revision above it, else before the pending ones. */
  #place(item: HTMLLIElement, revision: number): void {
    item.dataset['revision'] = String(revision);
    this.#byRevision.set(revision, item);
    if (revision > this.#newest) this.#newest = revision;
    this.#receipt(item, revision);
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
