// Chat links that lead nowhere, as a person meets them: a link cut short or mangled, a chat of two
// other people, a link without a chat. Each says so plainly (never a schema message) and leaves no
// script error behind.
import t from 'tap';
import { DESKTOP, chromiumMissing, loginThroughPage, newPage } from './browser.js';
import { openWebTest } from './service.js';

const missing = chromiumMissing();

t.test('chat links that lead nowhere', { skip: missing ?? false }, async (t) => {
  const { svc, browser, base } = await openWebTest(t, 'badlinks', ['erin', 'fred', 'gina']);
  const others = await svc.startChat('fred', 'gina');
  const E = await newPage(browser, DESKTOP);
  await loginThroughPage(E.page, base, 'erin');

  for (const [label, id] of [['a mangled link', 'x'.repeat(300)], ['a chat of two other people', others], ['a chat that was never started', 'erin:fred']] as const) {
    await E.page.goto(`${base}/chat?id=${encodeURIComponent(id)}`);
    const error = E.page.locator('#page-error');
    await error.waitFor();
    t.equal(await error.textContent(), 'This chat does not exist or is not yours.', `${label}: said plainly`);
    t.ok(await E.page.locator('#composer').isHidden(), `${label}: no composer`);
  }
  await E.page.goto(`${base}/chat`);
  await E.page.waitForURL(`${base}/profile`);
  t.pass('a link without a chat goes to the profile');
  await E.page.getByRole('heading', { name: /^Hello, / }).waitFor();
  t.same(E.errors, [], 'no script error on the way');
});
