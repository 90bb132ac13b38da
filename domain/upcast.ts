import type { DomainEvent } from './events.js';

/**
 * Brings an event read from the log to its current schema version. Old versions are never
 * rewritten in the store (the log is immutable); they are lifted on every read instead.
 * Returns null for an event this code does not know, so readers can skip or park it.
 */
export function upcast(type: string, version: number, data: unknown): DomainEvent | null {
  if (typeof data !== 'object' || data === null) return null;
  const d = data as Record<string, unknown>;
  switch (type) {
    case 'MessageSent':
      // v1 had no clientMessageId; the message id stood in for it, so a v1 message de-duplicates on itself.
      if (version === 1) return { type, version: 2, data: { ...d, clientMessageId: d['messageId'] } } as DomainEvent;
      return version === 2 ? ({ type, version, data } as DomainEvent) : null;
    case 'UserRegistered':
    case 'UserLoggedIn':
    case 'UserLoggedOut':
    case 'ChatOpened':
    case 'ChatStarted':
      return version === 1 ? ({ type, version, data } as DomainEvent) : null;
    default:
      return null;
  }
}
