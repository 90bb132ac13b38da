/**
 * Who is logged in. Pages that need a session call requireMe(): without one the browser goes to the
 * login page, which comes back here afterwards (?next=). It also fills the navbar and wires Log out.
 */
import { api, ApiError, setCsrfToken } from './api.js';
import { byId, el, show } from './dom.js';
import type { MeResponse, MeUser } from './types.js';

export function loginUrl(next = location.pathname + location.search): string {
  return `/login?next=${encodeURIComponent(next)}`;
}

/**
 * The readable CSRF cookie is set and cleared with the session cookie: without it there is no session
 * to ask about, and a first visit's console shows no failed request (the 401 of /api/me).
 */
const mayHaveSession = (): boolean => document.cookie.split(';').some((c) => c.trim().startsWith('chat_csrf='));

export async function fetchMe(): Promise<MeResponse | null> {
  if (!mayHaveSession()) return null;
  try {
    return await api<MeResponse>('GET', '/api/me');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

export async function requireMe(): Promise<MeUser> {
  const me = await fetchMe();
  if (!me) {
    location.replace(loginUrl());
    // The page is going away; nothing after this should run.
    return new Promise<never>(() => undefined);
  }
  setCsrfToken(me.csrfToken);
  // Someone else may have signed in in this tab since a draft was kept: theirs go (a user's own stay).
  clearDrafts(me.user.userId);
  byId('me-name', HTMLElement).textContent = me.user.username;
  show(byId('account', HTMLElement));
  byId('logout', HTMLButtonElement).addEventListener('click', () => void logout());
  return me.user;
}

const DRAFT_KEY_PREFIX = 'chat-draft:';

/**
 * Where the chat page keeps one user's unsent draft of one chat for the tab (sessionStorage). The
 * user is part of the key: a tab whose session ended elsewhere (a logout in another tab) may be
 * logged into by someone else, who must not find, nor send, what the last person was writing.
 */
export const draftKey = (userId: string, chatId: string): string => `${DRAFT_KEY_PREFIX}${userId}:${chatId}`;

/**
 * Forgets the unsent drafts of this tab: all of them (log out, erasure), or all but those of `keep`,
 * the user now signed in here: whoever uses this browser next finds nothing of what was being written.
 */
export function clearDrafts(keep?: string): void {
  const kept = keep === undefined ? null : `${DRAFT_KEY_PREFIX}${keep}:`;
  for (const key of Object.keys(sessionStorage)) {
    if (key.startsWith(DRAFT_KEY_PREFIX) && (kept === null || !key.startsWith(kept))) sessionStorage.removeItem(key);
  }
}

export async function logout(): Promise<void> {
  clearDrafts();
  try {
    await api('POST', '/api/logout');
  } finally {
    // Even if the request failed, leave: the login page shows the real state.
    location.assign('/login?loggedOut=1');
  }
}

/**
 * The session ended while the page was open (logout in another tab, expiry, erasure): the navbar no
 * longer claims a signed-in user, and `where` says so with a link back through the login page.
 */
export function showSessionEnded(where: HTMLElement): void {
  byId('account', HTMLElement).hidden = true;
  where.replaceChildren(
    document.createTextNode('Your session ended. '),
    el('a', { className: 'alert-link', text: 'Log in again', attrs: { href: loginUrl(), id: 'login-again' } }),
    document.createTextNode(' to go on.'),
  );
  show(where);
}
