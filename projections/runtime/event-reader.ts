/**
 * What this release can read. A projector never guesses: a record whose type, or whose schema version,
 * its upcasters do not know (written by a newer release during a rolling upgrade) is not applied as if
 * it were the current version but parked with a reason, so that a release that knows it retries it.
 *
 * The reason is the first word of the dead letter's error ("unknown-type: …", "unknown-version: …"):
 * a stable prefix, so listings and the automatic retry at start can tell these from events that failed.
 */
import { EVENT_VERSIONS } from '../../domain/events.js';
import type { PublicEvent } from '../../domain/public-event.js';
import { upcast } from '../../domain/upcast.js';
import type { PublicRecord } from '../ports/public-record.js';

export type UnknownReason = 'unknown-type' | 'unknown-version';

/**
 * The upcasters a projector reads with. The runtime takes one as a parameter (default: this release's,
 * `domain/upcast.ts`) so that a test can run an older or newer release's reader side by side.
 * It reads public (redacted) records: an upcaster must not need a secret.
 */
export interface EventReader {
  /** The event at the version projections read; null when this type at this version is unknown here. */
  upcast(type: string, version: number, data: Record<string, unknown>): PublicEvent | null;
  /** Whether the type is known at all, so that an unknown version of a known type is told apart. */
  knowsType(type: string): boolean;
  /** For the dead letter's message: the newest version read of a type, when known. */
  newestVersion?(type: string): number | undefined;
}

const currentVersions: Readonly<Record<string, number>> = EVENT_VERSIONS;

export const CURRENT_READER: EventReader = {
  upcast: (type, version, data) => upcast(type, version, data),
  knowsType: (type) => Object.hasOwn(currentVersions, type),
  newestVersion: (type) => (Object.hasOwn(currentVersions, type) ? currentVersions[type] : undefined),
};

export interface UnknownEvent {
  reason: UnknownReason;
  /** The dead letter's error text, starting with the reason. */
  message: string;
}

export type ReadOutcome = { event: PublicEvent; unknown: null } | { event: null; unknown: UnknownEvent };

export function readRecord(record: PublicRecord, reader: EventReader): ReadOutcome {
  if (!reader.knowsType(record.type)) {
    return { event: null, unknown: { reason: 'unknown-type', message: `unknown-type: ${record.type} (v${record.version}) is not an event type this release reads; parked until a release that reads it retries it` } };
  }
  const event = reader.upcast(record.type, record.version, record.data);
  if (event === null) {
    const newest = reader.newestVersion?.(record.type);
    const reads = newest === undefined ? '' : ` (it reads up to v${newest})`;
    return { event: null, unknown: { reason: 'unknown-version', message: `unknown-version: ${record.type} v${record.version} is not a version this release reads${reads}; parked until a release that reads it retries it` } };
  }
  return { event, unknown: null };
}

const REASON = /^(unknown-type|unknown-version):/;

/** The reason a dead letter's error records, or null for an event that failed to apply. */
export function unknownReasonOf(error: string): UnknownReason | null {
  const m = REASON.exec(error);
  return m ? (m[1] as UnknownReason) : null;
}

/** SQL condition on dead_letters.error selecting events parked as unknown (the prefixes above). */
export const UNKNOWN_ERROR_CONDITION = `(error LIKE 'unknown-type:%' OR error LIKE 'unknown-version:%')`;
