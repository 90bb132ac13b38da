// What a browser check found on the chat page (2026-12-07), each kept fixed here:
// - the list left its newest message when it got shorter (a growing draft, a phone's keyboard): new
//   messages landed below the screen, counted unread and never marked read;
// - editing the newest message opened its form under the composer, its Save and errors out of view;
// - "Write something first." stayed while the person typed;
// - the length limit counted UTF-16 units (maxlength), where the service counts characters.
import t from 'tap';
import type { Locator, Page } from 'playwright-core';
import { PASSWORD, PHONE, chromiumMissing, loginThroughPage, newPage } from './browser.js';
import { openWebTest } from './service.js';

const missing = chromiumMissing();

// Evaluated in the page (strings: this file is type-checked without the DOM's types).
const AT_BOTTOM = '(() => { const s = document.getElementById("scroller"); return s.scrollHeight - s.scrollTop - s.clientHeight < 2; })()';
const ERROR_IN_VIEW = `(() => {
  const e = document.querySelector("#messages > li.mine:last-child .change-error");
  const s = document.getElementById("scroller").getBoundingClientRect();
  const r = e && e.getBoundingClientRect();
  return !!r && r.bottom <= s.bottom + 1 && r.top >= s.top - 1;
})()`;

/** Opens the chat page and waits until its socket is live. */
async function openChat(page: Page, base: string, chatId: string): Promise<void> {
  await page.goto(`${base}/chat?id=${encodeURIComponent(chatId)}`);
  await page.locator('#conn-state[data-state="live"]').waitFor();
}

/** True when the element's box lies within the message list's visible part. */
async function inView(page: Page, target: Locator): Promise<boolean> {
  const [box, list] = await Promise.all([target.boundingBox(), page.locator('#scroller').boundingBox()]);
  return box !== null && list !== null && box.y >= list.y - 1 && box.y + box.height <= list.y + list.height + 1;
}

t.test('the chat page keeps the newest message in view and its forms and errors visible', { skip: missing ?? false }, async (t) => {
  const { svc, browser, base } = await openWebTest(t, 'layout', ['alice', 'bob']);
  const ab = await svc.startChat('alice', 'bob');
  await svc.seed('alice', ab, Array.from({ length: 30 }, (_, i) => `older ${i}`));

  const B = await newPage(browser, PHONE);
  await loginThroughPage(B.page, base, 'bob');
  await openChat(B.page, base, ab);
  await B.page.locator('#messages > li', { hasText: 'older 29' }).waitFor();
  const input = B.page.getByLabel('Message', { exact: true });

  // A draft of six lines makes the list shorter; then alice writes. Bob stays at the bottom and reads it.
  await input.fill('one\ntwo\nthree\nfour\nfive\nsix');
  await svc.seed('alice', ab, ['while bob drafts']);
  const arrived = B.page.locator('#messages > li', { hasText: 'while bob drafts' });
  await arrived.waitFor();
  await B.page.waitForFunction(AT_BOTTOM);
  t.ok(await inView(B.page, arrived), 'the new message is in view above the taller composer');
  t.ok(await B.page.locator('#jump-new').isHidden(), 'no "new messages" button: nothing is below the screen');
  // The phone's keyboard: the viewport gets shorter, the list with it.
  await B.page.setViewportSize({ width: 390, height: 480 });
  await svc.seed('alice', ab, ['with the keyboard open']);
  const second = B.page.locator('#messages > li', { hasText: 'with the keyboard open' });
  await second.waitFor();
  await B.page.waitForFunction(AT_BOTTOM);
  t.ok(await inView(B.page, second), 'in view with the keyboard open too');

  // Whitespace only is refused; the note goes as soon as the draft changes.
  await input.fill('   ');
  await input.press('Enter');
  const note = B.page.locator('#composer-error', { hasText: 'Write something first.' });
  await note.waitFor();
  await input.pressSequentially('x');
  await note.waitFor({ state: 'hidden' });

  // 4,000 characters of two UTF-16 units each are one message: nothing is cut, nothing refused.
  const emoji = '😀'.repeat(4000);
  await input.fill(emoji);
  t.equal([...(await input.inputValue())].length, 4000, 'the box keeps all 4,000 characters');
  await input.press('Enter');
  await B.page.locator('#messages > li.mine[data-receipt]', { hasText: '😀😀😀' }).waitFor();
  await input.fill('y'.repeat(4001));
  await input.press('Enter');
  await B.page.locator('#composer-error', { hasText: 'at most 4000 characters' }).waitFor();
  await input.fill('');

  // Editing the newest message: the form opens in view, and so does its error.
  const newest = B.page.locator('#messages > li.mine').last();
  await newest.getByRole('button', { name: 'Message actions' }).click();
  await newest.getByRole('button', { name: 'Edit' }).click();
  t.ok(await inView(B.page, newest.getByRole('button', { name: 'Save' })), 'Save is in view');
  await newest.getByLabel('Edit message').fill('  ');
  await newest.getByLabel('Edit message').press('Enter');
  const error = newest.locator('.change-error', { hasText: 'cannot be empty' });
  await error.waitFor();
  await B.page.waitForFunction(ERROR_IN_VIEW);
  t.pass('the error is in view');
  t.same(B.errors, [], 'no script error or CSP refusal');
});

t.test('an unsent draft survives a reload and a login again in the tab, and goes with sending or logging out', { skip: missing ?? false }, async (t) => {
  const { svc, browser, base } = await openWebTest(t, 'drafts', ['alice', 'bob']);
  const ab = await svc.startChat('alice', 'bob');
  const A = await newPage(browser, PHONE);
  await loginThroughPage(A.page, base, 'alice');
  await openChat(A.page, base, ab);
  const input = A.page.getByLabel('Message', { exact: true });
  await input.fill('half a thought\nand a second line');
  await A.page.reload();
  await A.page.locator('#conn-state[data-state="live"]').waitFor();
  await A.page.waitForFunction('document.getElementById("message-input").value === "half a thought\\nand a second line"');
  t.pass('the draft is back after a reload');
  await input.press('Enter');
  await A.page.locator('#messages > li.mine[data-receipt]', { hasText: 'half a thought' }).waitFor();
  await A.page.reload();
  await A.page.locator('#conn-state[data-state="live"]').waitFor();
  t.equal(await input.inputValue(), '', 'sent: no draft comes back');
  await input.fill('never sent');
  await A.page.getByRole('button', { name: 'Log out' }).click();
  await A.page.waitForURL(/\/login/);
  await loginThroughPage(A.page, base, 'alice');
  await openChat(A.page, base, ab);
  t.equal(await input.inputValue(), '', 'logging out cleared it');
});

// Found by a browser check: alice logged out in one tab while another held her draft; bob logged in
// there through "Log in again" and found her words in his composer, ready to send as his.
t.test('a draft is its writer\'s: another user logging in in the tab neither sees nor keeps it', { skip: missing ?? false }, async (t) => {
  const { svc, browser, base } = await openWebTest(t, 'drafts-per-user', ['alice', 'bob']);
  const ab = await svc.startChat('alice', 'bob');
  const A = await newPage(browser, PHONE);
  await loginThroughPage(A.page, base, 'alice');
  await openChat(A.page, base, ab);
  const second = await A.context.newPage();
  await openChat(second, base, ab);
  const input = second.getByLabel('Message', { exact: true });
  await input.fill('alice private draft');
  await A.page.getByRole('button', { name: 'Log out' }).click();
  await A.page.waitForURL(/\/login/);
  await second.locator('#login-again').waitFor();
  await second.locator('#login-again').click();
  await second.waitForURL(/\/login/);
  await second.getByLabel('Username').fill('bob');
  await second.getByLabel('Password').fill(PASSWORD);
  await second.getByRole('button', { name: 'Log in' }).click();
  await second.waitForURL(/\/chat\?id=/);
  await second.locator('#conn-state[data-state="live"]').waitFor();
  t.equal(await second.locator('#me-name').textContent(), 'bob', 'bob is signed in, back on the chat');
  t.equal(await input.inputValue(), '', 'his composer is empty');
  t.same(await second.evaluate('Object.keys(sessionStorage).filter((k) => k.startsWith("chat-draft:"))'), [], 'and the tab keeps nothing of hers');
  t.same(A.errors, [], 'no script error or CSP refusal');
});

// Found by a browser check: offline, Delete closed the menu and nothing showed that it was taken.
t.test('an edit or delete made offline says it is on its way, and is done once back online', { skip: missing ?? false }, async (t) => {
  const { svc, browser, base } = await openWebTest(t, 'offline-changes', ['alice', 'bob']);
  const ab = await svc.startChat('alice', 'bob');
  await svc.seed('alice', ab, ['to fix', 'to drop']);
  const A = await newPage(browser, PHONE);
  await loginThroughPage(A.page, base, 'alice');
  await openChat(A.page, base, ab);
  const fix = A.page.locator('#messages > li.mine', { hasText: 'to fix' });
  const drop = A.page.locator('#messages > li.mine', { hasText: 'to drop' });
  await drop.waitFor();

  await A.context.setOffline(true);
  await A.page.locator('#conn-state[data-state="offline"]').waitFor();
  await drop.getByRole('button', { name: 'Message actions' }).click();
  await drop.getByRole('button', { name: 'Delete', exact: true }).click();
  await drop.getByRole('button', { name: 'Delete for everyone' }).click();
  await drop.locator('.change-pending', { hasText: 'Deleting…' }).waitFor();
  await fix.getByRole('button', { name: 'Message actions' }).click();
  await fix.getByRole('button', { name: 'Edit' }).click();
  await fix.getByLabel('Edit message').fill('fixed');
  await fix.getByLabel('Edit message').press('Enter');
  await fix.locator('.change-pending', { hasText: 'Saving…' }).waitFor();
  t.pass('both say they are on their way while offline');

  await A.context.setOffline(false);
  await A.page.locator('#messages > li[data-deleted="true"]', { hasText: 'message deleted' }).waitFor();
  await A.page.locator('#messages > li[data-edited="true"]', { hasText: 'fixed' }).waitFor();
  await A.page.waitForFunction('document.querySelectorAll(".change-pending").length === 0');
  t.pass('back online: done, and the notes are gone');
  t.same(A.errors, [], 'no script error or CSP refusal');
});
