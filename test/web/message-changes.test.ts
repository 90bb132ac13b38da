// Editing and deleting in real browsers, two users: alice edits and deletes her messages from their
// menu; bob's page follows live ("edited", "message deleted"), keeps it after a reload (from the
// history), and never shows the deleted text; only one's own messages have the menu. Bob's profile
// chat list follows a change of a chat's last message live too, as it shows it after a reload.
import t from 'tap';
import type { Page } from 'playwright-core';
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
  // A blank edit is refused in place; the editor stays open.
  await helo.getByLabel('Edit message').fill('   ');
  await helo.getByLabel('Edit message').press('Enter');
  await helo.locator('.change-error', { hasText: 'cannot be empty' }).waitFor();
  t.equal(await helo.getByLabel('Edit message').count(), 1, 'the editor stays open after a blank edit');
  await helo.getByLabel('Edit message').fill('hello, fixed');
  await snap(A.page, 'changes-editing');
  await helo.getByRole('button', { name: 'Save' }).click();
  const editedOnB = B.page.locator('#messages > li[data-edited="true"]', { hasText: 'hello, fixed' });
  await editedOnB.waitFor();
  t.match(await editedOnB.locator('.meta').textContent(), /edited/, 'bob sees "edited" under it');
  const editedOnA = A.page.locator('#messages > li', { hasText: 'hello, fixed' });
  await editedOnA.and(A.page.locator('[data-edited="true"]')).waitFor();
  t.equal(await editedOnA.getAttribute('data-edited'), 'true', 'alice\'s page shows the edit too');

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

/** The chat list as shown: each entry's chat id and preview line, in order. */
const chatList = (p: Page): Promise<Array<[string, string]>> =>
  p.locator('#chats > a').evaluateAll((as) => as.map((a) => [a.getAttribute('data-chat-id') ?? '', a.querySelector('.last')?.textContent ?? '']));

t.test('the chat list preview follows an edit and a delete of the last message, live', { skip: missing ?? false }, async (t) => {
  const { svc, browser, base } = await openWebTest(t, 'changes-preview', ['alice', 'bob', 'carol']);
  const ab = await svc.startChat('alice', 'bob');
  const bc = await svc.startChat('bob', 'carol');
  await svc.seed('alice', ab, ['first', 'helo']);
  // Carol's chat is newer: an edit or delete must not move alice's chat (its activity is the sending time).
  await svc.seed('carol', bc, ['hi bob']);

  const A = await newPage(browser, DESKTOP);
  const B = await newPage(browser, DESKTOP);
  await loginThroughPage(A.page, base, 'alice');
  await loginThroughPage(B.page, base, 'bob');
  await A.page.goto(`${base}/chat?id=${encodeURIComponent(ab)}`);
  await A.page.locator('#conn-state[data-state="live"]').waitFor();
  await A.page.locator('#messages > li', { hasText: 'helo' }).waitFor();
  const preview = B.page.locator(`#chats > a[data-chat-id="${ab}"] .last`);
  await preview.filter({ hasText: /^helo$/ }).waitFor();
  t.same(await chatList(B.page), [[bc, 'hi bob'], [ab, 'helo']], 'bob\'s list before: newest activity first');

  const edit = async (from: string, to: string, how: 'Save' | 'Enter' = 'Save'): Promise<void> => {
    const item = A.page.locator('#messages > li', { hasText: from });
    await item.getByRole('button', { name: 'Message actions' }).click();
    await item.getByRole('button', { name: 'Edit' }).click();
    await item.getByLabel('Edit message').fill(to);
    if (how === 'Enter') await item.getByLabel('Edit message').press('Enter');
    else await item.getByRole('button', { name: 'Save' }).click();
    await A.page.locator('#messages > li[data-edited="true"]', { hasText: to }).waitFor();
  };
  // An earlier message's edit is not the preview's; the last one's is, live, in place.
  await edit('first', 'first, fixed', 'Enter'); // Enter saves, as it sends in the composer
  await edit('helo', 'hello');
  await preview.filter({ hasText: /^hello \(edited\)$/ }).waitFor();
  const edited = await chatList(B.page);
  t.same(edited, [[bc, 'hi bob'], [ab, 'hello (edited)']], 'live: the edit, and the chat keeps its place');
  await svc.settle();
  await B.page.reload();
  await preview.filter({ hasText: /edited/ }).waitFor();
  t.same(await chatList(B.page), edited, 'a reload shows the same');

  // Delete the last message: the preview says so, live, and never the text again.
  const hello = A.page.locator('#messages > li', { hasText: 'hello' });
  await hello.getByRole('button', { name: 'Message actions' }).click();
  await hello.getByRole('button', { name: 'Delete', exact: true }).click();
  await hello.getByRole('button', { name: 'Delete for everyone' }).click();
  await preview.filter({ hasText: /^message deleted$/ }).waitFor();
  const deleted = await chatList(B.page);
  t.same(deleted, [[bc, 'hi bob'], [ab, 'message deleted']], 'live: "message deleted", in place');
  await snap(B.page, 'changes-preview-deleted');
  await svc.settle();
  await B.page.reload();
  await preview.filter({ hasText: /deleted/ }).waitFor();
  t.same(await chatList(B.page), deleted, 'a reload shows the same');
  for (const p of [A, B]) {
    t.same(p.dialogs, [], 'no dialog opened');
    t.same(p.errors, [], 'no script error or CSP refusal');
  }
});
