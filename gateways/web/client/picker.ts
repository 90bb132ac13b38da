/**
 * A type-ahead picker of existing users (the ARIA combobox pattern): typing asks GET /api/users for
 * the prefix, the arrow keys move through the matches, Enter or a click picks one, Escape closes.
 * Answers that arrive after a newer query are dropped, so the list always matches the input.
 */
import { api, describeError } from './api.js';
import { el } from './dom.js';
import type { UserRef } from './types.js';

export interface PickerOptions {
  input: HTMLInputElement;
  list: HTMLUListElement;
  status: HTMLElement;
  /** Users not to offer (yourself). */
  exclude: string;
  onPick: (user: UserRef) => void | Promise<void>;
}

const DEBOUNCE_MS = 150;
const STATUS_HINT = 'Type the first letters; use the arrow keys and Enter to choose.';
/** How many matches the list shows. */
const SHOWN = 10;

export function userPicker(opts: PickerOptions): void {
  const { input, list, status } = opts;
  let users: UserRef[] = [];
  let active = -1;
  let seq = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const close = (): void => {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  };

  const render = (): void => {
    list.replaceChildren(...users.map((u, i) => {
      const item = el('li', {
        className: 'list-group-item list-group-item-action',
        text: u.username,
        attrs: { role: 'option', id: `user-option-${i}`, 'aria-selected': String(i === active), 'data-username': u.username },
      });
      // mousedown, not click: the input keeps its focus, so the list does not close first.
      item.addEventListener('mousedown', (ev) => {
        ev.preventDefault();
        void pick(i);
      });
      return item;
    }));
    if (users.length === 0) {
      close();
      return;
    }
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    if (active >= 0) {
      input.setAttribute('aria-activedescendant', `user-option-${active}`);
      document.getElementById(`user-option-${active}`)?.scrollIntoView({ block: 'nearest' });
    } else {
      input.removeAttribute('aria-activedescendant');
    }
  };

  const search = async (): Promise<void> => {
    const prefix = input.value.trim().toLowerCase();
    const mine = ++seq;
    if (prefix === '') {
      users = [];
      close();
      status.textContent = STATUS_HINT;
      return;
    }
    try {
      // One more than shown (the signed-in user may be among them): whether there are more to say so.
      const page = await api<{ users: UserRef[]; nextCursor: string | null }>('GET', `/api/users?prefix=${encodeURIComponent(prefix.slice(0, 32))}&limit=${SHOWN + 1}`);
      if (mine !== seq) return;
      const others = page.users.filter((u) => u.userId !== opts.exclude);
      users = others.slice(0, SHOWN);
      const more = others.length > SHOWN || (others.length === SHOWN && page.nextCursor !== null);
      const onlyMe = users.length === 0 && page.users.length > 0;
      active = users.length > 0 ? 0 : -1;
      render();
      status.textContent = onlyMe ? 'That is you: pick someone else to chat with.'
        : users.length === 0 ? `No user starts with “${prefix}”.`
        : more ? `The first ${SHOWN} matches: type more of the name to narrow them.`
        : `${users.length} match${users.length === 1 ? '' : 'es'}.`;
    } catch (err) {
      if (mine === seq) status.textContent = describeError(err);
    }
  };

  const pick = async (i: number): Promise<void> => {
    const user = users[i];
    if (!user) return;
    input.value = user.username;
    close();
    status.textContent = `Opening the chat with ${user.username}…`;
    try {
      await opts.onPick(user);
    } catch (err) {
      status.textContent = describeError(err);
    }
  };

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => void search(), DEBOUNCE_MS);
  });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      if (users.length === 0) return void search();
      active = ev.key === 'ArrowDown' ? (active + 1) % users.length : (active - 1 + users.length) % users.length;
      render();
    } else if (ev.key === 'Enter') {
      ev.preventDefault();
      if (!list.hidden && active >= 0) void pick(active);
    } else if (ev.key === 'Escape') {
      close();
    }
  });
  input.addEventListener('blur', () => close());
  input.addEventListener('focus', () => { if (users.length > 0 && input.value.trim() !== '') render(); });
}
