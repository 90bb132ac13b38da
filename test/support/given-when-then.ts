// given(events).when(command).then(events | error code): decider tests that read like the rules.
import type { Test } from 'tap';
import type { Decider } from '../../domain/decider.js';
import type { DomainErrorCode } from '../../domain/errors.js';

export function givenEvents<C, S, E>(decider: Decider<C, S, E>, history: E[]) {
  const state = history.reduce((s, e, i) => decider.evolve(s, e, { revision: i, position: BigInt(i + 1) }), decider.initialState);
  return {
    state,
    when(command: C) {
      const decision = decider.decide(command, state);
      return {
        decision,
        thenEvents(t: Test, expected: E[], msg?: string) {
          t.ok(decision.ok, msg ?? 'command accepted');
          if (decision.ok) t.same(decision.events, expected, msg ?? 'the expected events');
        },
        thenError(t: Test, code: DomainErrorCode) {
          t.equal(decision.ok ? 'accepted' : decision.error.code, code);
        },
      };
    },
  };
}
