// Erasing an account from the profile page, in real browsers: alice erases hers (the password asked
// again, a box ticked), lands on the login page told so, and cannot log in again; bob's chat with her
// still opens, shows her message as "message erased", and says why it takes no new messages; his
// pages open at the time close the composer and mark the chat list at once (participant_erased).
import t from 'tap';
import { DESKTOP, PASSWORD, chromiumMissing, loginThroughPage, newPage, snap } from './browser.js';
import { openWebTest } from './service.js';

const missing = chromiumMissing();

t.test('erase my account from the profile page; the other participant sees it in the chat', { skip: missing ?? false }, async (t) => {
  const { svc, browser, base } = await openWebTest(t, 'erasure', ['alice', 'bob']);
  const ab = await svc.startChat('alice', 'bob');
  await svc.seed('alice', ab, ['a secret from alice']);
  await svc.seed('bob', ab, ['hi alice']);

  // Bob has their chat open, and his profile in another window, while alice erases her account.
  const B = await newPage(browser, DESKTOP);
  await loginThroughPage(B.page, base, 'bob');
  const entry = B.page.locator(`#chats > a[data-chat-id="${ab}"]`);
  await entry.waitFor();
  const openChat = await B.context.newPage();
  await openChat.goto(`${base}/chat?id=${encodeURIComponent(ab)}`);
  await openChat.locator('#conn-state[data-state="live"]').waitFor();
  t.notOk(await openChat.locator('#message-input').isDisabled(), 'before: bob can write');

  const A = await newPage(browser, DESKTOP);
  await loginThroughPage(A.page, base, 'alice');
  const form = A.page.locator('#erase-form');
  await form.getByLabel('Your password').fill(PASSWORD);
  await form.getByRole('button', { name: 'Erase my account' }).click();
  await form.locator('#confirm-error', { hasText: 'Tick this to confirm.' }).waitFor();
  t.equal(A.page.url(), `${base}/profile`, 'without the box ticked nothing is sent');

  await form.getByLabel('Your password').fill('not the password at all');
  await form.getByLabel('I understand that this cannot be undone').check();
  await form.getByRole('button', { name: 'Erase my account' }).click();
  await form.locator('#password-error', { hasText: 'Wrong password.' }).waitFor();
  t.ok(await form.locator('#erase-error').isHidden(), 'said on the field, once (docs/web.md), not again above the form');
  t.equal(A.page.url(), `${base}/profile`, 'a wrong password erases nothing');

  await form.getByLabel('Your password').fill(PASSWORD);
  await form.getByRole('button', { name: 'Erase my account' }).click();
  await A.page.waitForURL(`${base}/login?erased=1`);
  await A.page.locator('#notice', { hasText: 'Your account was erased.' }).waitFor();
  await A.page.getByLabel('Username').fill('alice');
  await A.page.getByLabel('Password').fill(PASSWORD);
  await A.page.getByRole('button', { name: 'Log in' }).click();
  await A.page.locator('#form-error', { hasText: 'Invalid username or password.' }).waitFor();

  // Live, without a reload: the socket's participant_erased.
  await openChat.locator('#composer-closed', { hasText: 'alice erased their account; this chat takes no new messages.' }).waitFor();
  t.ok(await openChat.locator('#message-input').isDisabled(), 'bob\'s open chat closed its composer at once');
  await openChat.locator('#messages > li.theirs', { hasText: 'message erased' }).waitFor();
  t.equal(await openChat.locator('#messages', { hasText: 'a secret from alice' }).count(), 0, 'and blanked her message at once, not only after a reload');
  await entry.locator('.erased', { hasText: 'account erased' }).waitFor();
  t.pass('his open profile marked the chat at once');

  await svc.settle(); // the users read model has her erasure: the list below is read once, at load
  await B.page.reload();
  await entry.locator('.erased', { hasText: 'account erased' }).waitFor();
  t.equal(await entry.locator('.presence').count(), 0, 'bob\'s chat list says so, with no presence for her');
  await B.page.goto(`${base}/chat?id=${encodeURIComponent(ab)}`);
  await B.page.locator('#messages > li', { hasText: 'hi alice' }).waitFor();
  await B.page.locator('#messages > li', { hasText: 'message erased' }).waitFor();
  t.equal(await B.page.locator('#messages', { hasText: 'a secret from alice' }).count(), 0, 'her message shows as erased');
  await B.page.locator('#composer-closed', { hasText: 'alice erased their account; this chat takes no new messages.' }).waitFor();
  t.ok(await B.page.locator('#message-input').isDisabled(), 'the composer is closed');
  t.ok(await B.page.getByRole('button', { name: 'Send' }).isDisabled(), 'and its button');
  t.notOk(await B.page.locator('#presence').isVisible(), 'no presence shown for an erased account');
  await snap(B.page, 'erasure-seen-by-bob');
  for (const p of [A, B]) {
    t.same(p.dialogs, [], 'no dialog opened');
    t.same(p.errors, [], 'no script error or CSP refusal');
  }
});
