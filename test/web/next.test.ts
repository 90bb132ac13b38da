// ?next= in a real browser: after logging in (through the form, or already logged in) or registering,
// a same-origin target is honoured and anything else (a tab or newline after the first slash, a
// backslash, `//host`, an absolute URL, javascript:, data:) ends on the profile page of this origin.
// Every request to another origin is answered by a stand-in and recorded, so a redirect that
// escaped would show up as a recorded request and a foreign URL, not as a network timeout.
import t from 'tap';
import type { Page } from 'playwright-core';
import { DESKTOP, PASSWORD, chromiumMissing, newPage, registerThroughApi, type TestPage } from './browser.js';
import { openWebTest } from './service.js';

const missing = chromiumMissing();

/** ?next= values exactly as they stand in the query string, each with what it decodes to. */
const BAD: Array<[query: string, what: string]> = [
  ['%2F%09%2Fevil.example%2Fx', '/<tab>/evil.example/x'],
  ['%2F%0A%2Fevil.example', '/<newline>/evil.example'],
  ['%2F%0D%0A%2Fevil.example', '/<CR><LF>/evil.example'],
  ['%09%2F%2Fevil.example', '<tab>//evil.example'],
  ['%2F%09%5Cevil.example', '/<tab>\\evil.example'],
  ['%2F%5Cevil.example', '/\\evil.example'],
  ['%5C%5Cevil.example', '\\\\evil.example'],
  ['%2F%2Fevil.example', '//evil.example (percent-encoded)'],
  ['//evil.example', '//evil.example (as is)'],
  ['%2F%2F%2Fevil.example', '///evil.example'],
  ['%2F.%2F%2Fevil.example', '/.//evil.example (a dot segment leaves //host)'],
  ['https%3A%2F%2Fevil.example%2F', 'https://evil.example/'],
  ['https%3Aevil.example', 'https:evil.example'],
  ['javascript%3Aalert(1)', 'javascript:alert(1)'],
  ['%20javascript%3Aalert(1)', ' javascript:alert(1)'],
  ['java%09script%3Aalert(1)', 'java<tab>script:alert(1)'],
  ['data%3Atext%2Fhtml%2C%3Cscript%3Ealert(1)%3C%2Fscript%3E', 'data:text/html,<script>alert(1)</script>'],
  ['', 'empty'],
];

/** Leaves the login page (or the register page) for wherever the page sends it; returns the URL it ends on. */
async function settledUrl(page: Page, from: string): Promise<URL> {
  await page.waitForURL((u) => u.pathname !== from);
  // The profile is the end of the road: wait for it to have run, so a later redirect would be seen.
  if (new URL(page.url()).pathname === '/profile') await page.getByRole('heading', { name: /^Hello, / }).waitFor();
  return new URL(page.url());
}

async function submitLogin(page: Page, username: string): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
}

async function submitRegister(page: Page, username: string): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat the password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
}

t.test('?next= only ever leads to a page of this origin', { skip: missing ?? false }, async (t) => {
  const { svc, browser, base } = await openWebTest(t, 'next');
  const profile = `${base}/profile`;
  await registerThroughApi(base, 'alice');
  await registerThroughApi(base, 'bob');
  const chatId = await svc.startChat('alice', 'bob');
  const chatPath = `/chat?id=${encodeURIComponent(chatId)}`;

  const foreign: string[] = [];
  const open = async (): Promise<TestPage> => {
    const p = await newPage(browser, DESKTOP);
    await p.context.route((url) => url.origin !== base, async (route) => {
      foreign.push(route.request().url());
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>another site</h1>' });
    });
    return p;
  };
  const A = await open();

  await t.test('through the login form', async (t) => {
    // Few on purpose: every one is a login attempt for the account (LOGIN_MAX_PER_ACCOUNT).
    for (const [query, what] of BAD.slice(0, 6).concat([BAD[13]!, BAD[16]!])) {
      await A.context.clearCookies();
      await A.page.goto(`${base}/login?next=${query}`);
      await submitLogin(A.page, 'alice');
      t.equal((await settledUrl(A.page, '/login')).href, profile, `${what}: the profile`);
    }
    await A.context.clearCookies();
    await A.page.goto(`${base}/login?next=${encodeURIComponent(chatPath)}`);
    await submitLogin(A.page, 'alice');
    t.equal((await settledUrl(A.page, '/login')).href, `${base}${chatPath}`, 'a chat path is honoured');
    await A.page.locator('#conn-state[data-state="live"]').waitFor();
  });

  await t.test('already logged in: the login page goes straight on', async (t) => {
    for (const [query, what] of BAD) {
      await A.page.goto(`${base}/login?next=${query}`);
      t.equal((await settledUrl(A.page, '/login')).href, profile, `${what}: the profile`);
    }
    const good: Array<[query: string, want: string, what: string]> = [
      [encodeURIComponent(chatPath), chatPath, 'a chat'],
      ['%2Fprofile', '/profile', '/profile'],
      [encodeURIComponent(`${base}/profile?from=abs#x`), '/profile?from=abs#x', 'an absolute URL of this origin, as its path'],
      // Encoded separators stay a path segment of ours (the API's 404), never a host.
      ['%252F%252Fevil.example', '/%2F%2Fevil.example', 'a double-encoded //evil.example'],
    ];
    for (const [query, want, what] of good) {
      await A.page.goto(`${base}/login?next=${query}`);
      t.equal((await settledUrl(A.page, '/login')).href, `${base}${want}`, `${what} is honoured`);
    }
    // The register page too (a browser check found its form offered to a signed-in user).
    await A.page.goto(`${base}/register?next=${encodeURIComponent(chatPath)}`);
    t.equal((await settledUrl(A.page, '/register')).href, `${base}${chatPath}`, 'the register page goes straight on');
    await A.page.goto(`${base}/register?next=${BAD[0]![0]}`);
    t.equal((await settledUrl(A.page, '/register')).href, profile, 'through the same check');
  });

  await t.test('registering carries ?next= through the same check', async (t) => {
    const R = await open();
    // From the login page's link, a good target comes along...
    await R.page.goto(`${base}/login?next=${encodeURIComponent(chatPath)}`);
    t.equal(await R.page.getByRole('link', { name: 'Create one' }).getAttribute('href'), `/register?next=${encodeURIComponent(chatPath)}`);
    await R.page.goto(`${base}/login?next=%2F%09%2Fevil.example`);
    t.equal(await R.page.getByRole('link', { name: 'Create one' }).getAttribute('href'), '/register', '...a bad one does not');
    await R.page.getByRole('link', { name: 'Create one' }).click();
    await R.page.waitForURL(`${base}/register`);

    // The register page itself.
    await R.page.goto(`${base}/register?next=%2F%09%2Fevil.example`);
    await submitRegister(R.page, 'carol');
    t.equal((await settledUrl(R.page, '/register')).href, profile, 'a tab after the slash: the profile');
    await R.context.clearCookies();
    await R.page.goto(`${base}/register?next=javascript%3Aalert(1)`);
    await submitRegister(R.page, 'dave');
    t.equal((await settledUrl(R.page, '/register')).href, profile, 'javascript:: the profile');
    await R.context.clearCookies();
    await R.page.goto(`${base}/register?next=${encodeURIComponent('/profile?from=register')}`);
    t.equal(await R.page.getByRole('link', { name: 'Log in' }).getAttribute('href'), `/login?next=${encodeURIComponent('/profile?from=register')}`);
    await submitRegister(R.page, 'erin');
    t.equal((await settledUrl(R.page, '/register')).href, `${base}/profile?from=register`, 'a path of ours is honoured');
    t.same(R.dialogs, [], 'no dialog opened');
    t.same(R.errors, [], 'no script error or CSP refusal');
  });

  t.same(A.dialogs, [], 'no dialog opened (javascript: never ran)');
  t.same(A.errors, [], 'no script error or CSP refusal');
  t.same(foreign, [], 'no request ever went to another origin');
});
