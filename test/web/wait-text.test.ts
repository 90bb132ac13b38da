// How the pages say a throttle's Retry-After: "try again in 15 minutes", not "in 844 s" (a browser
// check found the seconds hard to read). Rounded up, never sooner than the server allows.
import t from 'tap';
import { waitText } from '../../gateways/web/client/wait-text.js';

t.test('waits as people say them', async (t) => {
  t.equal(waitText(1), '1 second');
  t.equal(waitText(40), '40 seconds');
  t.equal(waitText(60), '1 minute');
  t.equal(waitText(61), '2 minutes');
  t.equal(waitText(844), '15 minutes');
});
