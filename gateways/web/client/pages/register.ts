/** The registration page: creates the account, logs in with it and goes on to ?next= (or the profile). */
import { api, setCsrfToken } from '../api.js';
import { byId } from '../dom.js';
import { FormErrors, onSubmit } from '../form-errors.js';
import { DEFAULT_NEXT, safeNext } from '../safe-next.js';
import { fetchMe } from '../session.js';
import type { LoginResponse } from '../types.js';

// Only the parsed, same-origin path is ever navigated to (safe-next.ts), never the raw parameter.
const next = safeNext(new URLSearchParams(location.search).get('next'), location.origin);
const nextParam = next === DEFAULT_NEXT ? '' : `&next=${encodeURIComponent(next)}`;
if (next !== DEFAULT_NEXT) byId('login-link', HTMLAnchorElement).href = `/login?next=${encodeURIComponent(next)}`;

const form = byId('register-form', HTMLFormElement);
const username = byId('username', HTMLInputElement);
const password = byId('password', HTMLInputElement);
const password2 = byId('password2', HTMLInputElement);
const errors = new FormErrors(form);
username.focus();
// Already logged in (a bookmark, the back button): go straight on, as the login page does, rather
// than offer a form whose success would quietly replace this session.
void fetchMe().then((me) => { if (me) location.replace(next); }, () => undefined);

onSubmit(form, errors, () => {
  // Only what the server cannot check; the rules themselves come back as error codes.
  if (username.value.trim() === '') errors.field('username', 'Choose a username.');
  if (password.value === '') errors.field('password', 'Choose a password.');
  else if (password2.value !== password.value) errors.field('password2', 'The two passwords differ.');
}, async () => {
  const name = username.value.trim();
  // A refused registration throws: onSubmit shows why, next to the field.
  await api('POST', '/api/register', { username: name, password: password.value });
  try {
    const res = await api<LoginResponse>('POST', '/api/login', { username: name, password: password.value });
    setCsrfToken(res.csrfToken ?? null);
    location.assign(next);
  } catch {
    // The account exists; a throttled or failed login is finished on the login page.
    location.assign(`/login?registered=1&username=${encodeURIComponent(name)}${nextParam}`);
  }
});
