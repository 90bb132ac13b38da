import t from 'tap';
import { userDecider } from '../../domain/user.js';
import type { UserEvent } from '../../domain/events.js';
import { checkPassword } from '../../domain/password-policy.js';
import { isValidNewUsername, isValidUsername, normalizeUsername } from '../../domain/username.js';
import { givenEvents } from '../support/given-when-then.js';

const at = '2026-01-01T00:00:00.000Z';
const registered: UserEvent = { type: 'UserRegistered', version: 1, data: { userId: 'alice', username: 'alice', passwordHash: 'H', role: 'user', registeredAt: at } };

t.test('Register: a new user is registered with the hash computed outside the domain', async (t) => {
  givenEvents(userDecider, [])
    .when({ type: 'Register', userId: 'alice', username: 'alice', passwordHash: 'H', role: 'user', at })
    .thenEvents(t, [registered]);
});

t.test('Register: an existing user cannot register again', async (t) => {
  givenEvents(userDecider, [registered])
    .when({ type: 'Register', userId: 'alice', username: 'alice', passwordHash: 'H2', role: 'user', at })
    .thenError(t, 'USERNAME_TAKEN');
});

t.test('Register: invalid usernames are refused', async (t) => {
  for (const name of ['ab', 'a'.repeat(33), 'has space', 'UPPER', 'semi;colon', 'ünï', 'a:b', '...', '---', '_._']) {
    givenEvents(userDecider, []).when({ type: 'Register', userId: name, username: name, passwordHash: 'H', role: 'user', at }).thenError(t, 'USERNAME_INVALID');
  }
});

t.test('usernames: normalised to lower case, 3-32 of [a-z0-9_.-]', async (t) => {
  t.equal(normalizeUsername('  Alice.B '), 'alice.b');
  // Only ASCII letters change case: a Kelvin sign (U+212A) stays what it is, and is refused.
  t.equal(normalizeUsername('\u212Aelvin'), '\u212Aelvin');
  t.notOk(isValidUsername(normalizeUsername('\u212Aelvin')));
  t.equal(normalizeUsername('\u0130stanbul'), '\u0130stanbul');
  t.ok(isValidUsername('a_b-c.9'));
  t.ok(isValidUsername('abc'));
  t.ok(isValidUsername('a'.repeat(32)));
  t.notOk(isValidUsername('a'.repeat(33)));
  // A new name needs a letter or a digit; one registered before that rule can still be looked up.
  t.ok(isValidUsername('...'));
  t.notOk(isValidNewUsername('...'));
  t.ok(isValidNewUsername('._9'));
});

t.test('password policy: at least 8 characters, at most 256 bytes', async (t) => {
  t.equal(checkPassword('1234567')?.code, 'PASSWORD_TOO_SHORT');
  t.equal(checkPassword('12345678'), null);
  t.equal(checkPassword('x'.repeat(256)), null);
  t.equal(checkPassword('x'.repeat(257))?.code, 'PASSWORD_TOO_LONG');
  t.equal(checkPassword('é'.repeat(129))?.code, 'PASSWORD_TOO_LONG', 'counted in UTF-8 bytes');
  t.equal(checkPassword('😀'.repeat(7))?.code, 'PASSWORD_TOO_SHORT', 'counted in characters, not UTF-16 units');
  for (const bad of ['password\u0000', 'pass\ud800word', 'pass\udfffword']) {
    t.equal(checkPassword(bad)?.code, 'PASSWORD_INVALID_CHARACTERS', `refused: ${JSON.stringify(bad)}`);
  }
  t.equal(checkPassword('password \ud83d\ude00'), null, 'a surrogate pair is an ordinary character');
});

t.test('RecordLogin / RecordLogout: only for a registered user', async (t) => {
  givenEvents(userDecider, [registered]).when({ type: 'RecordLogin', userId: 'alice', at })
    .thenEvents(t, [{ type: 'UserLoggedIn', version: 1, data: { userId: 'alice', at } }]);
  givenEvents(userDecider, [registered]).when({ type: 'RecordLogout', userId: 'alice', at })
    .thenEvents(t, [{ type: 'UserLoggedOut', version: 1, data: { userId: 'alice', at } }]);
  givenEvents(userDecider, []).when({ type: 'RecordLogin', userId: 'ghost', at }).thenError(t, 'USER_NOT_FOUND');
});

t.test('RecordChatOpened: only a participant of an existing chat', async (t) => {
  givenEvents(userDecider, [registered]).when({ type: 'RecordChatOpened', userId: 'alice', chatId: 'alice:bob', chatParticipants: ['alice', 'bob'], at })
    .thenEvents(t, [{ type: 'ChatOpened', version: 1, data: { userId: 'alice', chatId: 'alice:bob', at } }]);
  givenEvents(userDecider, [registered]).when({ type: 'RecordChatOpened', userId: 'alice', chatId: 'bob:carol', chatParticipants: ['bob', 'carol'], at })
    .thenError(t, 'NOT_A_PARTICIPANT');
  givenEvents(userDecider, [registered]).when({ type: 'RecordChatOpened', userId: 'alice', chatId: 'alice:zed', chatParticipants: null, at })
    .thenError(t, 'CHAT_NOT_FOUND');
});

t.test('evolve: state remembers the hash for login and counts logins', async (t) => {
  const { state } = givenEvents(userDecider, [registered, { type: 'UserLoggedIn', version: 1, data: { userId: 'alice', at } }]);
  t.match(state, { registered: true, passwordHash: 'H', logins: 1, role: 'user' });
});
