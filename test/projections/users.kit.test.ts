// The users projection through the projection kit (SQLite and PostgreSQL; in order, redelivered,
// re-applied past the inbox, and in reverse order).
import t from 'tap';
import { usersProjection } from '../../projections/users.js';
import { projectionKit } from '../support/projection-kit.js';
import { loggedIn, loggedOut, registered } from './kit-events.js';

t.test('users', async (t) => {
  const { given } = projectionKit(t, usersProjection);

  await given([
    registered('alice', '2026-01-01T00:00:00Z'),
    registered('dave', '2026-01-01T00:00:01Z', 'auditor'),
    loggedIn('alice', '2026-01-02T08:00:00Z'),
    loggedIn('alice', '2026-01-03T09:00:00Z'),
    loggedOut('alice', '2026-01-03T10:00:00Z'),
  ]).then({
    users: [
      { user_id: 'alice', username: 'alice', role: 'user', registered_at: '2026-01-01T00:00:00Z', last_login_at: '2026-01-03T09:00:00Z', erased_at: null },
      { user_id: 'dave', username: 'dave', role: 'auditor', registered_at: '2026-01-01T00:00:01Z', last_login_at: null, erased_at: null },
    ],
  }, 'one row per user, the latest login, no password hash');

  await given([loggedIn('bob', '2026-01-02T08:00:00Z')]).then({
    users: [{ user_id: 'bob', username: null, role: null, registered_at: null, last_login_at: '2026-01-02T08:00:00Z', erased_at: null }],
  }, 'a login delivered before its registration makes a partial row');

  await given([
    registered('erin', '2026-01-01T00:00:00Z'),
    loggedIn('erin', '2026-01-02T08:00:00Z'),
    { type: 'UserErased', version: 1, data: { userId: 'erin', at: '2026-01-05T00:00:00Z', by: 'self' } },
  ]).then({
    users: [{ user_id: 'erin', username: 'erin', role: 'user', registered_at: '2026-01-01T00:00:00Z', last_login_at: '2026-01-02T08:00:00Z', erased_at: '2026-01-05T00:00:00Z' }],
  }, 'an erased account keeps its row (the name stays reserved), marked');

  await given([
    registered('alice', '2026-01-01T00:00:00Z'),
    { type: 'UserRegistered', version: 1, data: { userId: 'mallory', role: 'user', registeredAt: '2026-01-01T00:00:00Z' } },
  ]).thenParks(/data\.username must be a non-empty string/, {
    users: [{ user_id: 'alice', username: 'alice', role: 'user', registered_at: '2026-01-01T00:00:00Z', last_login_at: null, erased_at: null }],
  });
});
