// The web client in a real browser against the real service: two users in two browser contexts
// (a desktop and a phone-width screen) register, log in and out with field errors from the API's
// codes, start their chat from the profile page (twice: the same chat opens), chat live both ways,
// see the history after a reload and scroll back beyond the newest 100 messages.
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import {
  DESKTOP, PASSWORD, PHONE, ROOT, chromiumMissing, loginThroughPage, newPage, registerThroughApi, registerThroughPage, shownMessages, snap,
} from './browser.js';
import { openWebTest } from './service.js';

const missing = chromiumMissing();

t.test('two users register, start a chat from the profile and talk live', { skip: missing ?? false }, async (t) => {
  const { svc, browser, base } = await openWebTest(t, 'chat');
  // A fresh service per test: plain names are free.
  const alice = 'alice';
  const bob = 'bob';
  const A = await newPage(browser, DESKTOP);
  const B = await newPage(browser, PHONE);

  // ---- register, with field errors from the API's codes ----
  await A.page.goto(`${base}/register`);
  await snap(A.page, 'register');
  await A.page.getByLabel('Username').fill('x!');
  // Enter in a field submits the form: keyboard only.
  await A.page.getByLabel('Password', { exact: true }).fill('short');
  await A.page.getByLabel('Repeat the password').fill('short');
  await A.page.getByLabel('Repeat the password').press('Enter');
  const username = A.page.getByLabel('Username');
  await t.resolves(username.and(A.page.locator('[aria-invalid="true"]')).waitFor(), 'USERNAME_INVALID marks the username field');
  t.match(await A.page.locator('#username-error').textContent(), /3 to 32 characters/, 'with the API message under it');
  await A.page.getByLabel('Username').fill(alice);
  await A.page.getByRole('button', { name: 'Create account' }).click();
  await A.page.locator('#password-error', { hasText: 'at least 8 characters' }).waitFor();
  t.equal(await A.page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid'), 'true', 'PASSWORD_TOO_SHORT marks the password field');
  t.equal(await username.getAttribute('aria-invalid'), null, 'the username error is cleared');
  await snap(A.page, 'register-errors');
  await A.page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await A.page.getByLabel('Repeat the password').fill(PASSWORD);
  await A.page.getByRole('button', { name: 'Create account' }).click();
  await A.page.waitForURL(`${base}/profile`);
  t.equal(A.page.url(), `${base}/profile`, 'alice registered and landed on her profile');

  // Bob, on a phone: the taken name is refused on the username field, then he registers.
  await B.page.goto(`${base}/register`);
  await B.page.getByLabel('Username').fill(alice.toUpperCase());
  await B.page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await B.page.getByLabel('Repeat the password').fill(PASSWORD);
  await B.page.getByRole('button', { name: 'Create account' }).click();
  await B.page.locator('#username-error', { hasText: 'already registered' }).waitFor();
  t.match(await B.page.locator('#username-error').textContent(), /already registered/, 'USERNAME_TAKEN (case-insensitive) is shown on the username field');
  await snap(B.page, 'register-taken-phone');
  await registerThroughPage(B.page, base, bob);

  // ---- log out, a wrong password, log in ----
  await A.page.getByRole('button', { name: 'Log out' }).click();
  await A.page.waitForURL(/\/login\?loggedOut=1$/);
  await A.page.goto(`${base}/profile`);
  await A.page.waitForURL(/\/login\?next=%2Fprofile$/);
  t.match(A.page.url(), /\/login\?next=%2Fprofile$/, 'after logging out, the profile sends to the login page');
  await A.page.getByLabel('Username').fill(alice);
  await A.page.getByLabel('Password').fill('wrong password');
  await A.page.getByRole('button', { name: 'Log in' }).click();
  await A.page.getByRole('alert').filter({ hasText: 'Invalid username or password.' }).waitFor();
  t.equal(await A.page.getByLabel('Password').getAttribute('aria-invalid'), 'true', 'INVALID_CREDENTIALS is shown');
  await snap(A.page, 'login-error');
  await loginThroughPage(A.page, base, alice);
  t.equal(A.page.url(), `${base}/profile`, 'alice logged in again');

  // ---- the profile: the user picker starts the chat, by keyboard ----
  await A.page.getByRole('heading', { name: `Hello, ${alice}` }).waitFor();
  const search = A.page.getByRole('combobox', { name: 'Find a user by name' });
  // Her own full name finds only her: the picker says so rather than that nobody has it.
  await search.fill(alice);
  await A.page.locator('#picker-status', { hasText: 'That is you' }).waitFor();
  await search.fill(bob.slice(0, 4));
  await A.page.getByRole('option', { name: bob }).waitFor();
  t.equal(await A.page.getByRole('option', { name: alice }).count(), 0, 'the picker does not offer yourself');
  await snap(A.page, 'profile-picker');
  await search.press('ArrowDown');
  await search.press('ArrowUp');
  await search.press('Enter');
  await A.page.waitForURL(/\/chat\?id=/);
  const chatUrl = A.page.url();
  const chatId = new URL(chatUrl).searchParams.get('id')!;
  t.equal(chatId, [alice, bob].sort().join(':'), 'the chat of the pair opened');
  await A.page.locator('#conn-state[data-state="live"]').waitFor();
  t.equal(await A.page.locator('#conn-state').getAttribute('data-state'), 'live', 'alice\'s chat page is live');

  // Again from the profile: the existing chat opens (now with a click).
  await A.page.getByRole('link', { name: '← Chats' }).click();
  await A.page.waitForURL(`${base}/profile`);
  await A.page.locator(`#chats a[data-chat-id="${chatId}"]`).waitFor();
  t.equal(await A.page.locator(`#chats a[data-chat-id="${chatId}"]`).count(), 1, 'the chat is listed under My chats, once');
  await search.fill(bob);
  await A.page.getByRole('option', { name: bob }).click();
  await A.page.waitForURL(chatUrl);
  t.equal(A.page.url(), chatUrl, 'starting it again opens the same chat');

  // Bob finds it in his list (the read model may take a moment: reload until it shows).
  for (let i = 0; i < 50 && (await B.page.locator(`#chats a[data-chat-id="${chatId}"]`).count()) === 0; i++) {
    await B.page.waitForTimeout(100);
    await B.page.reload();
  }
  await snap(B.page, 'profile-chats-phone');
  await B.page.locator(`#chats a[data-chat-id="${chatId}"]`).click();
  await B.page.waitForURL(chatUrl);
  await B.page.locator('#conn-state[data-state="live"]').waitFor();

  // ---- live, both ways: Enter on one side, the button on the other ----
  const aInput = A.page.getByLabel('Message', { exact: true });
  const bInput = B.page.getByLabel('Message', { exact: true });
  await aInput.fill('Hi Bob! Did the build pass?');
  await aInput.press('Enter');
  await B.page.locator('#messages li', { hasText: 'Hi Bob! Did the build pass?' }).waitFor();
  t.equal(await B.page.locator('#messages li', { hasText: 'Hi Bob! Did the build pass?' }).count(), 1, 'bob sees alice\'s message live, once (sent with Enter)');
  await bInput.fill('It did: all green ✓\nShipping it after lunch.');
  await B.page.getByRole('button', { name: 'Send' }).click();
  await A.page.locator('#messages li', { hasText: 'Shipping it after lunch.' }).waitFor();
  t.equal(await A.page.locator('#messages li', { hasText: 'Shipping it after lunch.' }).count(), 1, 'alice sees bob\'s message live, once (sent with the button)');
  await aInput.fill('Great, thanks! Lunch at noon?');
  await aInput.press('Enter');
  await B.page.locator('#messages li', { hasText: 'Great, thanks! Lunch at noon?' }).waitFor();
  await A.page.locator('#messages li[data-state="sent"]', { hasText: 'Great, thanks! Lunch at noon?' }).waitFor();

  const seenByB = await shownMessages(B.page);
  t.same(seenByB.map((m) => [m.revision, m.sender, m.state]), [[1, alice, 'sent'], [2, 'You', 'sent'], [3, alice, 'sent']], 'bob: in order, once, with senders');
  t.equal(seenByB[1]!.body, 'It did: all green ✓\nShipping it after lunch.', 'line breaks are kept');
  const times = await B.page.locator('#messages li time').evaluateAll((els) => els.map((e) => e.getAttribute('datetime') ?? ''));
  t.ok(times.length === 3 && times.every((x) => !Number.isNaN(Date.parse(x))), 'each message shows its time');
  await snap(A.page, 'chat-desktop');
  await snap(B.page, 'chat-phone');
  if (process.env['UPDATE_DOCS_SCREENSHOT'] === '1') {
    copyFileSync(await snap(A.page, 'chat-docs'), path.join(ROOT, 'docs', 'screenshot-chat.png'));
  }

  // ---- reload: the history is there ----
  await A.page.reload();
  await A.page.locator('#messages li').nth(2).waitFor();
  t.same((await shownMessages(A.page)).map((m) => [m.revision, m.sender]), [[1, 'You'], [2, bob], [3, 'You']], 'history after a reload');

  // ---- more than 100 messages: scroll back ----
  const older = Array.from({ length: 120 }, (_, i) => `seeded ${i + 1}`);
  await svc.seed(bob, chatId, older);
  await A.page.reload();
  await A.page.locator('#messages li', { hasText: 'seeded 120' }).waitFor();
  const firstPage = await shownMessages(A.page);
  t.equal(firstPage.length, 100, 'the newest 100 are shown first');
  t.equal(firstPage[0]!.revision, 24, '…from revision 24 to 123');
  await A.page.locator('#conn-state[data-state="live"]').waitFor();
  // Scroll up as a person would, until the first message is on screen.
  const scroller = A.page.locator('#scroller');
  await scroller.hover();
  for (let i = 0; i < 40 && (await A.page.locator('#history-start').isHidden()); i++) {
    await A.page.mouse.wheel(0, -4000);
    await A.page.waitForTimeout(50);
  }
  await A.page.locator('#messages li', { hasText: 'Hi Bob! Did the build pass?' }).waitFor();
  const all = await shownMessages(A.page);
  t.equal(all.length, 123, 'scrolling up loaded every older message');
  t.same(all.map((m) => m.revision), Array.from({ length: 123 }, (_, i) => i + 1), 'once each, in revision order');
  await A.page.locator('#messages li').first().scrollIntoViewIfNeeded();
  await snap(A.page, 'chat-scrolled-back');

  // ---- my chats: newest activity first, with the last message ----
  await registerThroughApi(base, 'carol');
  const carolChat = await svc.startChat('carol', alice);
  await svc.seed('carol', carolChat, ['Coffee later?']);
  const chatOrder = async (): Promise<string[]> =>
    A.page.locator('#chats .chat-link').evaluateAll((links) => links.map((a) => a.textContent ?? ''));
  const untilOrder = async (first: string): Promise<string[]> => {
    for (let i = 0; i < 50; i++) {
      await A.page.goto(`${base}/profile`);
      await A.page.locator('#chats[aria-busy="false"]').waitFor();
      const order = await chatOrder();
      if (order.length === 2 && order[0]!.startsWith(first)) return order;
      await A.page.waitForTimeout(100);
    }
    return chatOrder();
  };
  let order = await untilOrder('carol');
  t.match(order, [/^carol(?!.*: Coffee).*Coffee later\?$/, /^bob(?!.*: seeded).*seeded 120$/], 'carol\'s newer chat first, each with its last message');
  await svc.seed(bob, chatId, ['Still there?']);
  order = await untilOrder('bob');
  t.match(order, [/^bob(?!.*: Still).*Still there\?$/, /^carol/], 'a new message moves bob\'s chat to the top');
  await snap(A.page, 'profile-chats');

  t.same(A.dialogs, [], 'no dialog ever opened (alice)');
  t.same(B.dialogs, [], 'no dialog ever opened (bob)');
  t.same([...A.errors, ...B.errors], [], 'no script error or CSP refusal');
});
