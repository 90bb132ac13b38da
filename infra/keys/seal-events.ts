/**
 * Which event fields are personal data, and how they are sealed in the log and opened on the way out.
 *
 * The log stores MessageSent v3 (`bodySealed` instead of `body`) and UserRegistered v2
 * (`passwordHashSealed` instead of `passwordHash`), sealed with the owner's data key (crypto.ts).
 * Opening turns them back into the current domain versions, MessageSent v2 / UserRegistered v1, with the
 * plaintext, or, when the owner's key was destroyed, with an empty value and `erased: true`. Every
 * reader that needs plaintext gets it through here, before the public record is made
 * (sealed-store.ts for readers of the log, unsealing-sink.ts for the projector behind RabbitMQ), so the
 * upcasters and projections downstream never see ciphertext. Records written before sealing existed
 * (MessageSent v1/v2, UserRegistered v1) pass through untouched.
 */
import type { EventData, RecordedEvent } from '../../commands/ports/event-store.js';
import type { PublicRecord } from '../../projections/ports/public-record.js';
import type { DataCipher } from '../config.js';
import { cipherNeedsLoading, loadXChaCha, openText, sealText, valueNeedsLoading } from './crypto.js';
import type { KeyRing } from './ring.js';

interface SealedField {
  /** Version written plaintext by the domain, and the version it is stored sealed as. */
  plainVersion: number;
  sealedVersion: number;
  field: string;
  sealedField: string;
  /** The field naming the user whose key seals it. */
  owner: string;
  /** Additional data: binds the ciphertext to its field and event. */
  aad(data: Record<string, unknown>): string;
}

export const SEALED_FIELDS: Readonly<Record<string, SealedField>> = {
  MessageSent: {
    plainVersion: 2, sealedVersion: 3, field: 'body', sealedField: 'bodySealed', owner: 'senderId',
    aad: (d) => `MessageSent.body:${String(d['messageId'])}:${String(d['senderId'])}`,
  },
  MessageEdited: {
    plainVersion: 1, sealedVersion: 2, field: 'body', sealedField: 'bodySealed', owner: 'senderId',
    aad: (d) => `MessageEdited.body:${String(d['messageId'])}:${String(d['senderId'])}:${String(d['clientEditId'])}`,
  },
  UserRegistered: {
    plainVersion: 1, sealedVersion: 2, field: 'passwordHash', sealedField: 'passwordHashSealed', owner: 'userId',
    aad: (d) => `UserRegistered.passwordHash:${String(d['userId'])}`,
  },
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function ownerOf(type: string, version: number, data: unknown, sealed: boolean): string | null {
  const spec = SEALED_FIELDS[type];
  if (!spec || !isObject(data)) return null;
  if (version !== (sealed ? spec.sealedVersion : spec.plainVersion)) return null;
  const owner = data[spec.owner];
  const value = data[sealed ? spec.sealedField : spec.field];
  return typeof owner === 'string' && typeof value === 'string' ? owner : null;
}

const versionOfData = (e: EventData): number => {
  const v = e.metadata?.['schemaVersion'];
  return typeof v === 'number' ? v : 1;
};

/** One event with its personal field sealed under `key`, its metadata naming the sealed version. */
function sealOne(e: EventData, spec: SealedField, key: Buffer, cipher: DataCipher): EventData {
  const plain = e.data as Record<string, unknown>;
  const data: Record<string, unknown> = {};
  // Copied field by field: a rest destructuring with a computed key costs several times more in V8,
  // and this runs once per append.
  for (const k of Object.keys(plain)) if (k !== spec.field) data[k] = plain[k];
  data[spec.sealedField] = sealText(key, plain[spec.field] as string, spec.aad(data), cipher);
  return { ...e, data, metadata: { ...e.metadata, schemaVersion: spec.sealedVersion } };
}

/**
 * The events to append, personal fields sealed. Synchronous when every owner's key is cached (the
 * common case: no promise, no lookup maps per append); otherwise a promise that fetches the keys, and
 * rejects with KeyErasedError when an owner was erased.
 */
export function sealEvents(events: EventData[], ring: KeyRing): EventData[] | Promise<EventData[]> {
  if (cipherNeedsLoading(ring.cipher)) return loadXChaCha().then(() => sealEvents(events, ring));
  let out: EventData[] | null = null;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const owner = ownerOf(e.type, versionOfData(e), e.data, false);
    if (owner === null) continue;
    const key = ring.cachedSealingKey(owner);
    if (key === undefined) return sealWithRing(events, ring);
    out ??= events.slice();
    out[i] = sealOne(e, SEALED_FIELDS[e.type]!, key, ring.cipher);
  }
  return out ?? events;
}

async function sealWithRing(events: EventData[], ring: KeyRing): Promise<EventData[]> {
  const owners = events.map((e) => ownerOf(e.type, versionOfData(e), e.data, false));
  const keys = await ring.keysForSealing(owners.filter((o): o is string => o !== null));
  return events.map((e, i) => {
    const owner = owners[i];
    return owner === null || owner === undefined ? e : sealOne(e, SEALED_FIELDS[e.type]!, keys.get(owner)!, ring.cipher);
  });
}

/** Opens one sealed payload with the owner's key (null: erased); returns the current-version data. */
function openData(type: string, data: Record<string, unknown>, key: Buffer | null): { version: number; data: Record<string, unknown> } {
  const spec = SEALED_FIELDS[type]!;
  const { [spec.sealedField]: sealed, ...rest } = data;
  if (key === null) return { version: spec.plainVersion, data: { ...rest, [spec.field]: '', erased: true } };
  // A value that does not open under a live key was tampered with or moved: a fault, not an erasure.
  return { version: spec.plainVersion, data: { ...rest, [spec.field]: openText(key, sealed as string, spec.aad(rest)) } };
}

interface Openable { type: string; version: number; data: unknown }

/**
 * A sealed version whose sealed field is absent: the public form of a record redacted it (the relay's
 * UserRegistered v2 carries no hash, not even sealed). Nothing to open: it is the plain version without it.
 */
function redactedSealed(o: Openable): boolean {
  const spec = SEALED_FIELDS[o.type];
  return spec !== undefined && o.version === spec.sealedVersion && isObject(o.data) && !(spec.sealedField in o.data);
}

/** Shared by both record shapes: erasures in the batch are noted first, then keys fetched once. */
async function openAll<R>(records: R[], view: (r: R) => Openable, rebuild: (r: R, version: number, data: Record<string, unknown>) => R, ring: KeyRing): Promise<R[]> {
  const owners: Array<string | null> = [];
  let redacted = false;
  /** An `x1.` value in a process that has not loaded libsodium yet. */
  let xchacha = false;
  for (const r of records) {
    const o = view(r);
    if (o.type === 'UserErased' && isObject(o.data) && typeof o.data['userId'] === 'string') ring.forget(o.data['userId']);
    const owner = ownerOf(o.type, o.version, o.data, true);
    owners.push(owner);
    redacted ||= redactedSealed(o);
    xchacha ||= owner !== null && valueNeedsLoading((o.data as Record<string, unknown>)[SEALED_FIELDS[o.type]!.sealedField]);
  }
  if (owners.every((o) => o === null) && !redacted) return records;
  if (xchacha) await loadXChaCha();
  const keys = await ring.keysForOpening(owners.filter((o): o is string => o !== null));
  return records.map((r, i) => {
    const o = view(r);
    if (redactedSealed(o)) return rebuild(r, SEALED_FIELDS[o.type]!.plainVersion, o.data as Record<string, unknown>);
    const owner = owners[i];
    if (owner === null || owner === undefined) return r;
    const key = keys.get(owner);
    // No row at all, not even a tombstone (erasure always leaves one): the key store does not belong to this log.
    if (key === undefined) throw new Error(`no data key, nor a tombstone, for user ${owner}: is the key store the one of this event log?`);
    const opened = openData(o.type, o.data as Record<string, unknown>, key);
    return rebuild(r, opened.version, opened.data);
  });
}

const schemaVersion = (r: RecordedEvent): number => (typeof r.metadata['schemaVersion'] === 'number' ? r.metadata['schemaVersion'] : 1);

export function openRecorded(records: RecordedEvent[], ring: KeyRing): Promise<RecordedEvent[]> {
  return openAll(
    records,
    (r) => ({ type: r.type, version: schemaVersion(r), data: r.data }),
    (r, version, data) => ({ ...r, data, metadata: { ...r.metadata, schemaVersion: version } }),
    ring,
  );
}

export function openPublic(records: PublicRecord[], ring: KeyRing): Promise<PublicRecord[]> {
  return openAll(records, (r) => r, (r, version, data) => ({ ...r, version, data }), ring);
}
