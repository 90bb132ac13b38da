import type { Decision } from './result.js';

/** Where an event sits in its stream and in the whole log; handed to evolve so state can remember it. */
export interface EventMeta {
  revision: number;
  position: bigint;
}

/** The pure heart of an aggregate: decide never does I/O, evolve never fails. */
export interface Decider<Command, State, Event> {
  initialState: State;
  decide(command: Command, state: State): Decision<Event>;
  evolve(state: State, event: Event, meta: EventMeta): State;
  /**
   * What a state holds, in remembered items (a state that keeps a list weighs its length): lets a
   * cache of states bound its memory rather than its entry count. Absent: every state weighs 1.
   */
  weight?(state: State): number;
}

export function fold<State, Event>(
  decider: Pick<Decider<unknown, State, Event>, 'initialState' | 'evolve'>,
  events: Iterable<{ event: Event; meta: EventMeta }>,
  from: State = decider.initialState,
): State {
  let state = from;
  for (const { event, meta } of events) state = decider.evolve(state, event, meta);
  return state;
}
