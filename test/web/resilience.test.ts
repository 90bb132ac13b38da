// The chat page under hostile text and a dropped network: a message that looks like HTML is shown
// as text and runs nothing; while one browser is offline the other keeps writing, and when the
// network is back the missed messages appear once each, in order, and the offline user's own
// message, pending meanwhile, goes out exactly once.
import t from 'tap';
import { DESKTOP, PHONE, chromiumMissing, loginThroughPage, newPage, shownMessages, snap } from './browser.js';
import { openWebTest } from './service.js';

const missing = chromiumMissing();

t.test('hostile text and a network drop', { skip: missing ?? false }, async (t) => {
  const { svc, browser, base } = await openWebTest(t, 'resilience', ['carol', 'dave']);
  const chatId = await svc.startChat('carol', 'dave');
  const chatUrl = `${base}/chat?id=${encodeURIComponent(chatId)}`;

  const C = await newPage(browser, DESKTOP);
  const D = await newPage(browser, PHONE);
  for (const [p, name] of [[C.page, 'carol'], [D.page, 'dave']] as const) {
    await loginThroughPage(p, base, name);
    await p.goto(chatUrl);
    await p.locator('#conn-state[data-state="live"]').waitFor();
  }

  t.test('a message that looks like HTML is text and runs nothing', async (t) => {
    const hostile = ['<img src=x onerror=alert(1)>', '<script>alert(2)</script><b>bold?</b>', '"><svg onload=alert(3)>'];
    const cInput = C.page.getByLabel('Message', { exact: true });
    for (const h of hostile) {
      await cInput.fill(h);
      await cInput.press('Enter');
    }
    await D.page.locator('#messages li', { hasText: hostile[2]! }).waitFor();
    const seen = await shownMessages(D.page);
    t.same(seen.map((m) => m.body), hostile, 'shown exactly as typed');
    for (const p of [C.page, D.page]) {
      t.equal(await p.locator('#messages img, #messages script, #messages svg, #messages b').count(), 0, 'no element was made from the text');
    }
    // Reloaded from the history as well.
    await D.page.reload();
    await D.page.locator('#messages li', { hasText: hostile[2]! }).waitFor();
    t.equal(await D.page.locator('#messages img, #messages script, #messages svg, #messages b').count(), 0, 'nor from the history');
    await D.page.waitForTimeout(300); // an onerror would fire by now
    t.same(C.dialogs, [], 'no dialog opened for the sender');
    t.same(D.dialogs, [], 'no dialog opened for the receiver');
    await snap(D.page, 'chat-hostile-text-phone');
  });

  t.test('messages sent while the network is down appear once, in order', async (t) => {
    await D.page.locator('#conn-state[data-state="live"]').waitFor();
    const before = (await shownMessages(D.page)).length;

    await D.context.setOffline(true);
    // The state may move on to reconnecting at once: assert the wait itself, not a later reading.
    await t.resolves(D.page.locator('#conn-state[data-state="offline"]').waitFor(), 'the page shows it is offline');
    // Dave writes while offline: pending until he is back.
    const dInput = D.page.getByLabel('Message', { exact: true });
    await dInput.fill('Sorry, I was in a tunnel.');
    await dInput.press('Enter');
    await D.page.locator('#messages li[data-state="pending"]', { hasText: 'Sorry, I was in a tunnel.' }).waitFor();
    t.match(await D.page.locator('#messages li[data-state="pending"] .state').textContent(), /Sending/, 'his own message is marked pending');

    const missed = Array.from({ length: 5 }, (_, i) => `while you were away ${i + 1}`);
    const cInput = C.page.getByLabel('Message', { exact: true });
    for (const m of missed) {
      await cInput.fill(m);
      await cInput.press('Enter');
    }
    await C.page.locator('#messages li[data-state="sent"]', { hasText: missed[4]! }).waitFor();
    await D.page.waitForTimeout(500);
    t.equal((await shownMessages(D.page)).filter((m) => m.state === 'sent').length, before, 'nothing reached the offline page');
    await snap(D.page, 'chat-offline-phone');

    await D.context.setOffline(false);
    await D.page.locator('#conn-state[data-state="live"]').waitFor({ timeout: 15_000 });
    await D.page.locator('#messages li', { hasText: missed[4]! }).waitFor();
    await D.page.locator('#messages li[data-state="sent"]', { hasText: 'Sorry, I was in a tunnel.' }).waitFor();
    await C.page.locator('#messages li', { hasText: 'Sorry, I was in a tunnel.' }).waitFor();
    await D.page.waitForTimeout(300); // room for any duplicate to show up

    const after = await shownMessages(D.page);
    const bodies = after.map((m) => m.body);
    for (const m of missed) t.equal(bodies.filter((b) => b === m).length, 1, `"${m}" once`);
    const missedAt = missed.map((m) => bodies.indexOf(m));
    t.same(missedAt, [...missedAt].sort((a, b) => a - b), 'in the order they were sent');
    const revisions = after.map((m) => m.revision);
    t.same(revisions, Array.from({ length: after.length }, (_, i) => i + 1), 'revisions 1..n, each once, in order');
    t.equal(bodies.filter((b) => b === 'Sorry, I was in a tunnel.').length, 1, 'the pending message shows once');
    const onCarol = (await shownMessages(C.page)).filter((m) => m.body === 'Sorry, I was in a tunnel.');
    t.equal(onCarol.length, 1, 'and reached carol once');
    await snap(D.page, 'chat-back-online-phone');
    await snap(C.page, 'chat-back-online-desktop');

    // What the page shows live is what the server has.
    await D.page.reload();
    await D.page.locator('#messages li', { hasText: 'Sorry, I was in a tunnel.' }).waitFor();
    t.same((await shownMessages(D.page)).map((m) => [m.revision, m.body]), after.map((m) => [m.revision, m.body]), 'the same after a reload');
    t.same([...C.errors, ...D.errors], [], 'no script error or CSP refusal');
  });

  t.test('a session ended elsewhere: the page says so with a way back, and nothing typed stays pending', async (t) => {
    await D.page.locator('#conn-state[data-state="live"]').waitFor();
    await D.context.setOffline(true);
    await D.page.locator('#conn-state[data-state="offline"]').waitFor();
    const dInput = D.page.getByLabel('Message', { exact: true });
    await dInput.fill('Did this go out?');
    await dInput.press('Enter');
    await D.page.locator('#messages li[data-state="pending"]', { hasText: 'Did this go out?' }).waitFor();
    // Logged out everywhere (another device, or an erasure) while this page was offline.
    await svc.endSessions('dave');
    await D.context.setOffline(false);
    await D.page.locator('#conn-state[data-state="ended"]').waitFor({ timeout: 15_000 });
    await D.page.locator('#messages li[data-state="failed"]', { hasText: 'Did this go out?' }).waitFor();
    t.match(await D.page.locator('#messages li[data-state="failed"] .state').textContent(), /Not sent: your session ended/, 'the pending message is marked not sent');
    t.ok(await dInput.isDisabled(), 'the composer is disabled');
    t.ok(await D.page.locator('#account').isHidden(), 'the navbar no longer names a signed-in user');
    t.match(await D.page.locator('#page-error').textContent(), /Your session ended\. Log in again to go on\./);
    t.match(await D.page.locator('#login-again').getAttribute('href'), /^\/login\?next=%2Fchat%3Fid%3D/, 'a link back through the login page');
    await snap(D.page, 'chat-session-ended-phone');
    t.equal((await shownMessages(C.page)).filter((m) => m.body === 'Did this go out?').length, 0, 'nothing reached carol');
  });
});
