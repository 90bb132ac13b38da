import { EVENT_VERSIONS, isDomainEventType, type DomainEvent, type DomainEventType } from './events.js';

/** Lifts one type's recorded data at a recorded version to its current shape; null for a version it does not know. */
type Upcaster = (version: number, data: Record<string, unknown>) => DomainEvent | null;

/** For a type that has only ever had its current version: that version passes as is, any other is unknown. */
const currentOnly =
  (type: DomainEventType): Upcaster =>
  (version, data) =>
    version === EVENT_VERSIONS[type] ? ({ type, version, data } as DomainEvent) : null;

/**
 * One upcaster per event type. The `satisfies` makes the table exhaustive: a new event type in
 * domain/events.ts fails the build here until it has an entry, so no type silently drops out of every fold.
 *
 * Adding an entry: a new type that has one version is `NewType: currentOnly('NewType')`. Raising a type's
 * version (EVENT_VERSIONS in events.ts): replace its entry with a function that lifts each older version
 * to the current one and returns null for any version it does not know (a newer release's, which readers park).
 */
const UPCASTERS = {
  UserRegistered: currentOnly('UserRegistered'),
  UserLoggedIn: currentOnly('UserLoggedIn'),
  UserLoggedOut: currentOnly('UserLoggedOut'),
  ChatOpened: currentOnly('ChatOpened'),
  UserErased: currentOnly('UserErased'),
  ChatStarted: currentOnly('ChatStarted'),
  MessageSent: (version, d) => {
    // v1 had no clientMessageId; the message id stood in for it, so a v1 message de-duplicates on itself.
    if (version === 1) return { type: 'MessageSent', version: 2, data: { ...d, clientMessageId: d['messageId'] } } as DomainEvent;
    return version === 2 ? ({ type: 'MessageSent', version, data: d } as DomainEvent) : null;
  },
  // v2 (bodySealed) is the stored form only: infra/keys/seal-events.ts opens it to v1 before it gets here.
  MessageEdited: currentOnly('MessageEdited'),
  MessageDeleted: currentOnly('MessageDeleted'),
  ChatRead: currentOnly('ChatRead'),
} satisfies Record<DomainEventType, Upcaster>;

/**
 * Brings an event read from the log to its current schema version. Old versions are never
 * rewritten in the store (the log is immutable); they are lifted on every read instead.
 * Returns null for an event this code does not know (type or version), so readers can skip or park it.
 */
export function upcast(type: string, version: number, data: unknown): DomainEvent | null {
  if (typeof data !== 'object' || data === null) return null;
  if (!isDomainEventType(type)) return null;
  return UPCASTERS[type](version, data as Record<string, unknown>);
}
