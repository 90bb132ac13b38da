// What a first-time user met in Chromium and was mended: the edit form's buttons stand out from
// my own bubble, Escape closes a message's menu and an edit (taking its error along) and gives
// focus back; a long name gives way in the phone's chat list so the unread badge stays visible;
// new messages below the screen are announced by a button and the title; a body of only invisible
// characters is refused in the composer; the profile page says when its socket is not live; an
// erased sender's last message reads "message erased" in the chat list.
import t from 'tap';
import { register } from '../../commands/register.js';
import { DESKTOP, PASSWORD, PHONE, chromiumMissing, loginThroughPage, newPage, snap } from './browser.js';
import { openWebTest } from './service.js';

const missing = chromiumMissing();
/** What the functions run in the page use of an element (this file is typed without the DOM's names). */
interface Styled { color: string; backgroundColor: string }
interface PageElement {
  textContent: string | null;
  scrollTop: number;
  ownerDocument: { activeElement: unknown; defaultView: { getComputedStyle(e: PageElement): Styled } };
  querySelector(selector: string): PageElement;
  querySelectorAll(selector: string): Iterable<PageElement>;
}
const IS_FOCUSED = (el: PageElement): boolean => el === el.ownerDocument.activeElement;

t.test('message menu and edit form: visible buttons, Escape, focus, no stale error', { skip: missing ?? false }, async (t) => {
  const { svc, browser, base } = await openWebTest(t, 'ux-menu', ['alice', 'bob']);
  const ab = await svc.startChat('alice', 'bob');
  await svc.seed('alice', ab, ['first words']);
  const A = await newPage(browser, DESKTOP);
  await loginThroughPage(A.page, base, 'alice');
  await A.page.goto(`${base}/chat?id=${encodeURIComponent(ab)}`);
  await A.page.locator('#conn-state[data-state="live"]').waitFor();
  const item = A.page.locator('#messages > li', { hasText: 'first words' });
  const toggle = item.getByRole('button', { name: 'Message actions' });

  await toggle.click();
  await item.getByRole('button', { name: 'Edit' }).waitFor();
  await A.page.keyboard.press('Escape');
  t.equal(await toggle.getAttribute('aria-expanded'), 'false', 'Escape closes the menu');
  t.ok(await toggle.evaluate(IS_FOCUSED), 'and focus is back on its button');

  await toggle.click();
  await item.getByRole('button', { name: 'Edit' }).click();
  // No named helpers inside: tsx wraps those in a __name() the page does not have.
  const colours = await item.evaluate((li: PageElement) => ({
    bubble: li.ownerDocument.defaultView.getComputedStyle(li.querySelector('.bubble')).backgroundColor,
    buttons: [...li.querySelectorAll('.edit-form button')].map((e) => ({ text: e.textContent, color: li.ownerDocument.defaultView.getComputedStyle(e).color })),
  }));
  t.equal(colours.buttons.length, 2, 'Save and Cancel');
  for (const b of colours.buttons) {
    t.not(b.color, colours.bubble, `${String(b.text)}: its text does not vanish into the bubble`);
  }
  await item.getByLabel('Edit message').fill('\u200b');
  await item.getByLabel('Edit message').press('Enter');
  await item.locator('.change-error', { hasText: 'cannot be empty' }).waitFor();
  await item.getByLabel('Edit message').press('Escape');
  t.equal(await item.locator('.change-error').count(), 0, 'the error goes with the cancelled edit');
  t.ok(await toggle.evaluate(IS_FOCUSED), 'focus is back on the menu button');
  t.same(A.errors, []);
});

// Found by a browser check: every menu button was just "Message actions", several menus stayed open
// at once, and a receipt rewrote the message's label without its "(edited)".
t.test('message menus: named after their message, one open at a time; labels keep "(edited)" past a receipt', { skip: missing ?? false }, async (t) => {
  const { svc, browser, base } = await openWebTest(t, 'ux-menu-names', ['alice', 'bob']);
  const ab = await svc.startChat('alice', 'bob');
  await svc.seed('alice', ab, ['first words', `second ${'w'.repeat(60)}`]);
  const A = await newPage(browser, DESKTOP);
  await loginThroughPage(A.page, base, 'alice');
  await A.page.goto(`${base}/chat?id=${encodeURIComponent(ab)}`);
  await A.page.locator('#conn-state[data-state="live"]').waitFor();
  const first = A.page.locator('#messages > li', { hasText: 'first words' });
  const second = A.page.locator('#messages > li', { hasText: 'second' });
  const firstToggle = first.locator('.msg-menu-toggle');
  const secondToggle = second.locator('.msg-menu-toggle');
  t.equal(await firstToggle.getAttribute('aria-label'), 'Message actions: first words', 'the menu button names its message');
  t.equal(await secondToggle.getAttribute('aria-label'), `Message actions: second ${'w'.repeat(33)}…`, 'a long one by its first 40 characters');

  await firstToggle.click();
  await secondToggle.click();
  t.equal(await firstToggle.getAttribute('aria-expanded'), 'false', 'opening a menu closes the other');
  t.ok(await first.locator('.msg-menu-items').isHidden());
  t.equal(await secondToggle.getAttribute('aria-expanded'), 'true');
  await A.page.locator('#chat-title').click();
  t.equal(await secondToggle.getAttribute('aria-expanded'), 'false', 'a click elsewhere closes it');
  t.ok(await second.locator('.msg-menu-items').isHidden());

  await firstToggle.click();
  await first.getByRole('button', { name: 'Edit' }).click();
  await first.getByLabel('Edit message').fill('first words, fixed');
  await first.getByLabel('Edit message').press('Enter');
  await A.page.locator('#messages > li[data-edited="true"]', { hasText: 'first words, fixed' }).waitFor();
  t.equal(await first.getAttribute('aria-label'), 'You: first words, fixed (edited) (sent)', 'edited and sent');
  t.equal(await firstToggle.getAttribute('aria-label'), 'Message actions: first words, fixed', 'the button follows the edit');

  const B = await newPage(browser, DESKTOP);
  await loginThroughPage(B.page, base, 'bob');
  await B.page.goto(`${base}/chat?id=${encodeURIComponent(ab)}`);
  await A.page.locator('#messages > li[data-receipt="read"]', { hasText: 'first words, fixed' }).waitFor();
  t.equal(await first.getAttribute('aria-label'), 'You: first words, fixed (edited) (read)', 'read: still says edited');
  t.same([...A.errors, ...B.errors], []);
});

// Found by a browser check: the profile listed only the first page of chats (100), and the picker
// said "10 matches." when more users started with what was typed.
t.test('a profile with more than 100 chats lists them all; the picker says when there are more matches', { skip: missing ?? false }, async (t) => {
  const { svc, browser, base } = await openWebTest(t, 'ux-many-chats', ['alice']);
  const others = Array.from({ length: 104 }, (_, i) => `p${String(i).padStart(3, '0')}`);
  // Through the command (the address throttle allows 100 registrations per 15 minutes).
  for (const u of others) {
    const r = await register(svc.commands, { username: u, password: PASSWORD });
    if (!r.ok) throw new Error(r.error.code);
    await svc.startChat('alice', u);
  }
  await svc.settle();
  const A = await newPage(browser, DESKTOP);
  await loginThroughPage(A.page, base, 'alice');
  await A.page.locator('#chats .chat-link').nth(103).waitFor();
  t.equal(await A.page.locator('#chats .chat-link').count(), 104, 'all 104 chats are listed');
  t.equal(await A.page.locator('#chats .chat-link').first().getAttribute('data-chat-id'), 'alice:p103', 'newest first');

  const picker = A.page.getByLabel('Find a user by name');
  await picker.fill('p');
  await A.page.locator('#user-results [role="option"]').nth(9).waitFor();
  t.equal(await A.page.locator('#user-results [role="option"]').count(), 10, 'ten shown');
  await A.page.locator('#picker-status', { hasText: 'The first 10 matches: type more of the name to narrow them.' }).waitFor();
  t.pass('and the status says there are more');
  await picker.fill('p10');
  await A.page.locator('#picker-status', { hasText: /^4 matches\.$/ }).waitFor();
  t.pass('narrowed: the count');
  t.same(A.errors, []);
});

t.test('phone chat list: a long name gives way to the unread badge', { skip: missing ?? false }, async (t) => {
  const long = 'zlongnamezlongnamezlongnamezlong';
  const { svc, browser, base } = await openWebTest(t, 'ux-list', ['bob', long]);
  const chat = await svc.startChat(long, 'bob');
  await svc.seed(long, chat, ['hi bob', 'are you there?']);
  const B = await newPage(browser, { ...PHONE, viewport: { width: 375, height: 700 } });
  await loginThroughPage(B.page, base, 'bob');
  const entry = B.page.locator(`#chats [data-chat-id="${chat}"]`);
  const badge = entry.locator('.unread-badge');
  await badge.and(B.page.locator('[data-unread="2"]')).waitFor();
  const [box, badgeBox] = [await entry.boundingBox(), await badge.boundingBox()];
  t.ok(box && badgeBox && badgeBox.x >= box.x && badgeBox.x + badgeBox.width <= box.x + box.width, `the badge lies inside its entry (${JSON.stringify({ box, badgeBox })})`);
  t.ok(await entry.locator('strong').evaluate((s) => s.scrollWidth > s.clientWidth), 'the name is cut with an ellipsis instead');
  await snap(B.page, 'ux-phone-long-name');
  t.same(B.errors, []);
});

t.test('chat page: new messages below the screen, invisible text, and the profile\'s connection badge', { skip: missing ?? false }, async (t) => {
  const { svc, browser, base } = await openWebTest(t, 'ux-chat', ['alice', 'bob']);
  const ab = await svc.startChat('alice', 'bob');
  await svc.seed('alice', ab, Array.from({ length: 60 }, (_, i) => `line ${i}`));
  const B = await newPage(browser, DESKTOP);
  await loginThroughPage(B.page, base, 'bob');
  await B.page.locator('#conn-state[data-state="live"]').waitFor(); // the profile page says it is live too
  await B.page.goto(`${base}/chat?id=${encodeURIComponent(ab)}`);
  await B.page.locator('#conn-state[data-state="live"]').waitFor();
  await B.page.locator('#messages > li', { hasText: 'line 59' }).waitFor();
  await B.page.locator('#scroller').evaluate((s: PageElement) => { s.scrollTop = 0; });
  await svc.seed('alice', ab, ['below the fold']);
  const jump = B.page.locator('#jump-new');
  await jump.and(B.page.getByText('1 new message ↓')).waitFor();
  t.match(await B.page.title(), /^\(1\) alice/, 'the title counts it');
  await jump.click();
  await B.page.waitForFunction('document.getElementById("jump-new").hidden');
  t.match(await B.page.title(), /^alice/, 'back at the bottom: no count');

  await B.page.locator('#message-input').fill('\u200b\u200d');
  await B.page.locator('#message-input').press('Enter');
  await B.page.locator('#composer-error', { hasText: 'Write something first.' }).waitFor();
  t.equal(await B.page.locator('#messages > li[data-state="failed"]').count(), 0, 'nothing was sent to be refused');
  t.same(B.errors, []);
});

t.test('the chat list says "message erased" for an erased sender\'s last message, live and after a reload', { skip: missing ?? false }, async (t) => {
  const { svc, browser, base } = await openWebTest(t, 'ux-erased', ['alice', 'carol']);
  const ac = await svc.startChat('alice', 'carol');
  await svc.seed('carol', ac, ['bye from carol']);
  const A = await newPage(browser, DESKTOP);
  await loginThroughPage(A.page, base, 'alice');
  const entry = A.page.locator(`#chats [data-chat-id="${ac}"]`);
  await entry.locator('.last', { hasText: 'bye from carol' }).waitFor();
  await A.page.locator('#conn-state[data-state="live"]').waitFor();
  const res = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'carol', password: 'correct horse battery', bearer: true }) });
  const { token } = await res.json() as { token: string };
  const erased = await fetch(`${base}/api/me`, { method: 'DELETE', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ password: 'correct horse battery' }) });
  t.equal(erased.status, 204);
  await entry.locator('.last', { hasText: /^message erased$/ }).waitFor();
  await svc.settle();
  await A.page.reload();
  await entry.locator('.last', { hasText: /^message erased$/ }).waitFor();
  t.equal(await A.page.locator('#chats', { hasText: 'bye from carol' }).count(), 0, 'the text is gone');
  t.same(A.errors, []);
});

t.test('a first visit asks for no session it cannot have: no /api/me, no failed request in the console', { skip: missing ?? false }, async (t) => {
  const { browser, base } = await openWebTest(t, 'ux-first', ['alice']);
  const P = await newPage(browser, DESKTOP);
  const asked: string[] = [];
  const failed: string[] = [];
  P.page.on('request', (r) => { if (new URL(r.url()).pathname === '/api/me') asked.push(r.url()); });
  P.page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
  for (const path of ['/login', '/register']) {
    await P.page.goto(`${base}${path}`);
    await P.page.locator('form').first().waitFor();
  }
  await P.page.goto(`${base}/profile`);
  await P.page.waitForURL(/\/login\?next=/);
  t.same(asked, [], 'no /api/me without the session\'s cookies');
  t.same(failed, [], 'no failed request');
  // Logged in, the pages still ask, and a logged-in visit to /login goes straight on.
  await loginThroughPage(P.page, base, 'alice');
  await P.page.goto(`${base}/login`);
  await P.page.waitForURL(`${base}/profile`);
  t.ok(asked.length > 0, 'with the cookies, /api/me is asked');
  t.same(P.errors, []);
});
