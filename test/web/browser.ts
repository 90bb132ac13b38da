// Debian's Chromium driven by playwright-core (which downloads no browser of its own), plus the
// helpers the browser tests share: screenshots under test-artifacts/web/, a dialog recorder, and
// the account steps through the real pages.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Dialog, type Page } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'web');
export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null when they can. */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `chromium is not installed at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
    ],
  });
}

export const DESKTOP = { viewport: { width: 1100, height: 760 } };
/** A phone-width screen (iPhone 12-ish CSS pixels) with touch. */
export const PHONE = { viewport: { width: 390, height: 780 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

export interface TestPage {
  context: BrowserContext;
  page: Page;
  /** Every alert/confirm/prompt that opened (must stay empty). */
  dialogs: string[];
  /** Uncaught script errors and CSP refusals (must stay empty). */
  errors: string[];
}

export async function newPage(browser: Browser, device: typeof DESKTOP | typeof PHONE): Promise<TestPage> {
  const context = await browser.newContext({ ...device, locale: 'en-GB', timezoneId: 'UTC' });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  // Any alert/confirm/prompt means a script ran that should not have: record and dismiss it.
  const dialogs: string[] = [];
  page.on('dialog', (d: Dialog) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss().catch(() => undefined);
  });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // Failed requests (a 401 from /api/me on the login page, a refused socket while offline) are expected;
    // a policy refusal means the page tried something its CSP forbids.
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) errors.push(`console: ${msg.text()}`);
  });
  return { context, page, dialogs, errors };
}

export async function snap(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

export const PASSWORD = 'correct horse battery';

export async function registerThroughPage(page: Page, base: string, username: string, password = PASSWORD): Promise<void> {
  await page.goto(`${base}/register`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Repeat the password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(`${base}/profile`);
  await page.getByRole('heading', { name: `Hello, ${username}` }).waitFor();
}

export async function loginThroughPage(page: Page, base: string, username: string, password = PASSWORD): Promise<void> {
  await page.goto(`${base}/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${base}/profile`);
}

/** Registers through the API (no page): for tests about something else. */
export async function registerThroughApi(base: string, username: string, password = PASSWORD): Promise<void> {
  const res = await fetch(`${base}/api/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  if (res.status !== 201) throw new Error(`register ${username}: ${res.status} ${await res.text()}`);
}

/** The chat page's messages as [revision, sender, body, state], in screen order. */
export function shownMessages(page: Page): Promise<Array<{ revision: number | null; sender: string; body: string; state: string }>> {
  return page.locator('#messages > li').evaluateAll((items) => items.map((li) => ({
    revision: li.getAttribute('data-revision') === null ? null : Number(li.getAttribute('data-revision')),
    sender: li.querySelector('.sender')?.textContent ?? '',
    body: li.querySelector('.body')?.textContent ?? '',
    state: li.getAttribute('data-state') ?? '',
  })));
}

