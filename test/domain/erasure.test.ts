// Erasure in the user decider, the activity mapping and the public form: UserErased holds no personal data.
import t from 'tap';
import type { UserEvent } from '../../domain/events.js';
import { redactUnknown, toPublicEvent } from '../../domain/public-event.js';
import { upcast } from '../../domain/upcast.js';
import { userDecider } from '../../domain/user.js';
import { activityOf } from '../../projections/activity-of.js';
import { givenEvents } from '../support/given-when-then.js';

const at = '2026-01-01T00:00:00.000Z';
const registered: UserEvent = { type: 'UserRegistered', version: 1, data: { userId: 'alice', username: 'alice', passwordHash: 'H', role: 'user', registeredAt: at } };
const erased: UserEvent = { type: 'UserErased', version: 1, data: { userId: 'alice', at, by: 'self' } };

t.test('Erase: a registered user is erased once; again is a no-op', async (t) => {
  givenEvents(userDecider, [registered]).when({ type: 'Erase', userId: 'alice', by: 'self', at }).thenEvents(t, [erased]);
  givenEvents(userDecider, [registered, erased]).when({ type: 'Erase', userId: 'alice', by: 'operator', at }).thenEvents(t, []);
});

t.test('Erase: an unknown user cannot be erased', async (t) => {
  givenEvents(userDecider, []).when({ type: 'Erase', userId: 'alice', by: 'operator', at }).thenError(t, 'USER_NOT_FOUND');
});

t.test('an erased user keeps the name reserved and records nothing more', async (t) => {
  givenEvents(userDecider, [registered, erased])
    .when({ type: 'Register', userId: 'alice', username: 'alice', passwordHash: 'H2', role: 'user', at })
    .thenError(t, 'USERNAME_TAKEN');
  givenEvents(userDecider, [registered, erased]).when({ type: 'RecordLogin', userId: 'alice', at }).thenError(t, 'USER_NOT_FOUND');
  givenEvents(userDecider, [registered, erased])
    .when({ type: 'RecordChatOpened', userId: 'alice', chatId: 'alice:bob', chatParticipants: ['alice', 'bob'], at })
    .thenError(t, 'USER_NOT_FOUND');
});

t.test('the state forgets the hash: after UserErased, and when the registration reads as erased', async (t) => {
  let state = userDecider.evolve(userDecider.initialState, registered, { revision: 0, position: 1n });
  state = userDecider.evolve(state, erased, { revision: 1, position: 2n });
  t.same(state.registered && [state.passwordHash, state.erased], ['', true]);
  const unreadable: UserEvent = { type: 'UserRegistered', version: 1, data: { ...registered.data, passwordHash: '', erased: true } } as UserEvent;
  const s2 = userDecider.evolve(userDecider.initialState, unreadable, { revision: 0, position: 1n });
  t.same(s2.registered && [s2.passwordHash, s2.erased], ['', true]);
});

t.test('UserErased: read as is, an audit action without content, nothing to redact', async (t) => {
  t.same(upcast('UserErased', 1, erased.data), erased);
  t.equal(upcast('UserErased', 2, erased.data), null, 'a newer version is not guessed at');
  t.same(activityOf(toPublicEvent(erased)), { user: 'alice', action: 'erase_account', target: null, at });
  t.same(toPublicEvent(erased), erased);
});

t.test('a sealed registration read without keys (the relay) carries no hash, not even sealed', async (t) => {
  t.same(redactUnknown({ userId: 'alice', passwordHashSealed: 'g1.xyz' }), { userId: 'alice' });
});
