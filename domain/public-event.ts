import type { DomainEvent } from './events.js';

/**
 * The one redaction point: every event leaving the write side (broker, sockets, audit output,
 * logs) goes through here. The password hash lives only in the user's own stream.
 */
export type PublicEvent = DomainEvent extends infer E
  ? E extends { type: 'UserRegistered'; data: infer D }
    ? Omit<E, 'data'> & { data: Omit<D, 'passwordHash'> }
    : E
  : never;

export function toPublicEvent(event: DomainEvent): PublicEvent {
  if (event.type === 'UserRegistered') {
    const { passwordHash: _secret, ...data } = event.data;
    return { ...event, data };
  }
  return event;
}

// passwordHashSealed: a sealed record read without keys (the relay's) still never carries the hash, even encrypted.
const SECRET_KEYS = new Set(['passwordHash', 'passwordHashSealed', 'password', 'token', 'sessionToken']);

/** For payloads whose type is not known (an unknown or future event): drop any secret-named key, deeply. */
export function redactUnknown(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactUnknown);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (!SECRET_KEYS.has(k)) out[k] = redactUnknown(v);
  return out;
}
