import type { DomainError } from './errors.js';

/** Outcome of a pure decision: events to append, or a domain error value (never a throw). */
export type Decision<E> = { ok: true; events: E[] } | { ok: false; error: DomainError };

export const accept = <E>(events: E[]): Decision<E> => ({ ok: true, events });
export const reject = <E>(error: DomainError): Decision<E> => ({ ok: false, error });
