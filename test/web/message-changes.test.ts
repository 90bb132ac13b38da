// Editing and deleting in real browsers, two users: alice edits and deletes her messages from their
// menu; bob's page follows live ("edited", "message deleted"), keeps it after a reload (from the
// history), and never shows the deleted text; only one's own messages have the menu.
import t from 'tap';
import { DESKTOP, PHONE, chromiumMissing, loginThroughPage, newPage, snap } from './browser.js';
import { openWebTest } from './service.js';

const missing = chromiumMissing();

t.test('edit and delete from a message\'s menu, seen live by the other user', { skip: missing ?? false }, async (t) => {
  const { svc, browser, base } = await openWebTest(t, 'changes', ['alice', 'bob']);
  const ab = await svc.startChat('alice', 'bob');
  await svc.seed('alice', ab, ['helo', 'a secret']);
  await svc.seed('bob', ab, ['hi alice']);

  const A = await newPage(browser, DESKTOP);
  const B = await newPage(browser, PHONE);
  await loginThroughPage(A.page, base, 'alice');
  await loginThroughPage(B.page, base, 'bob');
  for (const p of [A.page, B.page]) {
    await p.goto(`${base}/chat?id=${encodeURIComponent(ab)}`);
    await p.locator('#conn-state[data-state="live"]').waitFor();
    await p.locator('#messages > li', { hasText: 'hi alice' }).waitFor();
  }
  t.equal(await A.page.locator('#messages > li.mine .msg-menu-toggle').count(), 2, 'alice\'s two messages have a menu on her page');
  t.equal(await A.page.locator('#messages > li.theirs .msg-menu-toggle').count(), 0, 'bob\'s has none there');
  t.equal(await B.page.locator('#messages > li.theirs .msg-menu-toggle').count(), 0, 'nor alice\'s on bob\'s page');

  // Edit: menu, Edit, change the text, Save.
  const helo = A.page.locator('#messages > li', { hasText: 'helo' });
  await helo.getByRole('button', { name: 'Message actions' }).click();
  await helo.getByRole('button', { name: 'Edit' }).click();
  await helo.getByLabel('Edit message').fill('hello, fixed');
  await snap(A.page, 'changes-editing');
  await helo.getByRole('button', { name: 'Save' }).click();
  const editedOnB = B.page.locator('#messages > li[data-edited="true"]', { hasText: 'hello, fixed' });
  await editedOnB.waitFor();
  t.match(await editedOnB.locator('.meta').textContent(), /edited/, 'bob sees "edited" under it');
  await A.page.locator('#messages > li[data-edited="true"]', { hasText: 'hello, fixed' }).waitFor();
  t.pass('alice\'s page shows the edit too');

  // Delete: menu, Delete, then confirm in place.
  const secret = A.page.locator('#messages > li', { hasText: 'a secret' });
  await secret.getByRole('button', { name: 'Message actions' }).click();
  await secret.getByRole('button', { name: 'Delete', exact: true }).click();
  await secret.getByRole('button', { name: 'Delete for everyone' }).click();
  await B.page.locator('#messages > li[data-deleted="true"]', { hasText: 'message deleted' }).waitFor();
  await A.page.locator('#messages > li[data-deleted="true"]', { hasText: 'message deleted' }).waitFor();
  t.equal(await B.page.locator('#messages', { hasText: 'a secret' }).count(), 0, 'the deleted text is gone from bob\'s page');
  t.equal(await A.page.locator('#messages > li[data-deleted="true"] .msg-menu-toggle').count(), 0, 'a deleted message has no menu');
  await snap(B.page, 'changes-seen-by-bob');

  // After a reload the history says the same.
  await B.page.reload();
  await B.page.locator('#messages > li', { hasText: 'hi alice' }).waitFor();
  await B.page.locator('#messages > li[data-deleted="true"]', { hasText: 'message deleted' }).waitFor();
  await B.page.locator('#messages > li[data-edited="true"]', { hasText: 'hello, fixed' }).waitFor();
  t.equal(await B.page.locator('#messages', { hasText: 'a secret' }).count(), 0, 'not after a reload either');
  t.equal(await B.page.locator('#messages > li').count(), 3, 'three messages, each once');
  for (const p of [A, B]) {
    t.same(p.dialogs, [], 'no dialog opened');
    t.same(p.errors, [], 'no script error or CSP refusal');
  }
});
