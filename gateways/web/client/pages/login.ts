/** The login page: on success the session cookies are set and the browser goes on to ?next= (or the profile). */
import { api, setCsrfToken } from '../api.js';
import { byId, show } from '../dom.js';
import { FormErrors, onSubmit } from '../form-errors.js';
import { DEFAULT_NEXT, safeNext } from '../safe-next.js';
import { fetchMe } from '../session.js';
import type { LoginResponse } from '../types.js';

const params = new URLSearchParams(location.search);
// Only the parsed, same-origin path is ever navigated to (safe-next.ts), never the raw parameter.
const next = safeNext(params.get('next'), location.origin);
const form = byId('login-form', HTMLFormElement);
const username = byId('username', HTMLInputElement);
const password = byId('password', HTMLInputElement);
const errors = new FormErrors(form);

if (params.get('registered') === '1') show(byId('notice', HTMLElement), 'Your account was created. Log in to continue.');
if (params.get('loggedOut') === '1') show(byId('notice', HTMLElement), 'You are logged out.');
if (params.get('erased') === '1') show(byId('notice', HTMLElement), 'Your account was erased.');
username.value = params.get('username') ?? '';
(username.value ? password : username).focus();
// Someone sent here from a page who has no account yet comes back to that page after registering.
if (next !== DEFAULT_NEXT) byId('register-link', HTMLAnchorElement).href = `/register?next=${encodeURIComponent(next)}`;

// Already logged in (a bookmark, the back button): go straight on.
void fetchMe().then((me) => { if (me) location.replace(next); }, () => undefined);

onSubmit(form, errors, () => {
  if (username.value.trim() === '') errors.field('username', 'Enter your username.');
  if (password.value === '') errors.field('password', 'Enter your password.');
}, async () => {
  const res = await api<LoginResponse>('POST', '/api/login', { username: username.value.trim(), password: password.value });
  setCsrfToken(res.csrfToken ?? null);
  location.assign(next);
});
