/**
 * The activity audit straight from the event log, the source of truth (not the activity_log read
 * model, which could be behind or wrong): every user action, filtered by user, action and time,
 * streamed page by page through store.readAll so the log is never held in memory.
 *
 * Rows come from activityOf (projections/activity-of.ts), the mapping the activity_log projection
 * stores, on events redacted by toPublicEvent: an export has no column that could carry a password
 * hash, and no event carries a session token. The export is a cut of the log: it stops at the head
 * it saw when it started, so a busy log cannot keep it running.
 *
 * Used by `chat audit activity` and meant for the HTTP auditor export:
 *
 *   for await (const line of exportActivity(store, { userId, from, to }, 'csv')) reply.raw.write(line);
 *   // or: reply.type('text/csv').send(Readable.from(exportActivity(store, filter, 'csv')))
 */
import { toPublicEvent } from '../../domain/public-event.js';
import type { EventStore, RecordedEvent } from '../../commands/ports/event-store.js';
import { toDomainEvent } from '../../commands/ports/codec.js';
import { ACTIVITY_EVENT_TYPES, activityOf, type ActivityAction } from '../activity-of.js';

export interface AuditFilter {
  userId?: string;
  action?: ActivityAction;
  /** Inclusive, on the action's own time (as the activity_log read model filters). */
  from?: Date;
  /** Exclusive. */
  to?: Date;
}

export interface AuditRow {
  /** Global log position, decimal. */
  position: string;
  eventId: string;
  /** ISO-8601. */
  at: string;
  userId: string;
  action: ActivityAction;
  /** The chat acted on, if any. */
  target: string | null;
}

export interface AuditStats {
  /** Log events read. */
  scanned: number;
  /** Rows produced (matching the filter). */
  matched: number;
  /** Events of a user-action type that could not be read (unknown version, malformed data). */
  unreadable: number;
  /** First position read (null before the first page) and last, and the head the export stops at. */
  first: bigint | null;
  position: bigint;
  head: bigint;
}

export interface UnreadableEvent {
  eventId: string;
  position: string;
  type: string;
  /** Names the field at fault, never its value. */
  error: string;
}

export interface AuditOptions {
  /** Events per readAll page; default 5,000. */
  pageSize?: number;
  /** Stop after this position; default the head when the export starts. */
  through?: bigint;
  /** After each page, and once at the end. */
  onProgress?: (stats: Readonly<AuditStats>) => void;
  onUnreadable?: (event: UnreadableEvent) => void;
}

const USER_ACTION_TYPES: ReadonlySet<string> = new Set(ACTIVITY_EVENT_TYPES);

function matches(row: AuditRow, f: AuditFilter, atMs: number): boolean {
  if (f.userId !== undefined && row.userId !== f.userId) return false;
  if (f.action !== undefined && row.action !== f.action) return false;
  if (f.from !== undefined && atMs < f.from.getTime()) return false;
  if (f.to !== undefined && atMs >= f.to.getTime()) return false;
  return true;
}

/** The activity row of one recorded event; null for an event that is no user action; throws when unreadable. */
export function auditRowOf(e: RecordedEvent): AuditRow | null {
  if (!USER_ACTION_TYPES.has(e.type)) return null;
  const domain = toDomainEvent(e);
  if (!domain) throw new Error(`${e.type} of an unknown version or with data that is not an object`);
  const a = activityOf(toPublicEvent(domain));
  return { position: e.position.toString(), eventId: e.id.toLowerCase(), at: a.at, userId: a.user, action: a.action, target: a.target };
}

/** Every matching action in log order, oldest first, up to the head at the start (or `through`). */
export async function* auditActivity(store: EventStore, filter: AuditFilter = {}, options: AuditOptions = {}): AsyncGenerator<AuditRow, AuditStats> {
  const pageSize = options.pageSize ?? 5_000;
  const head = options.through ?? (await store.headPosition());
  const stats: AuditStats = { scanned: 0, matched: 0, unreadable: 0, first: null, position: 0n, head };
  const read = (after: bigint): Promise<RecordedEvent[]> => {
    const p = store.readAll({ after, maxCount: pageSize });
    p.catch(() => undefined); // awaited below; this only keeps an abandoned export from leaving it unhandled
    return p;
  };
  let next: Promise<RecordedEvent[]> | null = head > 0n ? read(0n) : null;
  while (next) {
    const page = await next;
    next = null;
    const last = page[page.length - 1];
    // The next page is read while this one is turned into rows and written out.
    if (last && last.position < head) next = read(last.position);
    for (const e of page) {
      if (e.position > head) {
        next = null;
        break;
      }
      stats.first ??= e.position;
      stats.scanned++;
      stats.position = e.position;
      let row: AuditRow | null;
      try {
        row = auditRowOf(e);
      } catch (err) {
        stats.unreadable++;
        options.onUnreadable?.({ eventId: e.id, position: e.position.toString(), type: e.type, error: err instanceof Error ? err.message : String(err) });
        continue;
      }
      if (row && matches(row, filter, Date.parse(row.at))) {
        stats.matched++;
        yield row;
      }
    }
    options.onProgress?.(stats);
  }
  options.onProgress?.(stats);
  return stats;
}

export type AuditFormat = 'table' | 'jsonl' | 'csv';
export const AUDIT_FORMATS: ReadonlyArray<AuditFormat> = ['table', 'jsonl', 'csv'];

const COLUMNS = ['position', 'event_id', 'at', 'user_id', 'action', 'target'] as const;
const cells = (r: AuditRow): string[] => [r.position, r.eventId, r.at, r.userId, r.action, r.target ?? ''];

/** One JSON object per line. */
export function formatJsonl(row: AuditRow): string {
  return `${JSON.stringify({ position: row.position, eventId: row.eventId, at: row.at, userId: row.userId, action: row.action, target: row.target })}\n`;
}

/**
 * RFC 4180 quoting, and a cell that a spreadsheet would run as a formula (=, +, -, @, tab, CR first)
 * prefixed with ' (OWASP CSV injection): user ids may start with '-'.
 */
export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export const CSV_HEADER = `${COLUMNS.join(',')}\r\n`;

export function formatCsv(row: AuditRow): string {
  return `${cells(row).map(csvCell).join(',')}\r\n`;
}

// A streamed table cannot measure its widest cell first: fixed widths that fit a 20-digit position,
// a UUID, an ISO time and the longest action; user ids (at most 32 characters) pad to 32; target last.
const WIDTHS = [20, 36, 24, 32, 12] as const;
const tableLine = (values: ReadonlyArray<string>): string =>
  `${values.map((v, i) => (i < WIDTHS.length ? v.padEnd(WIDTHS[i]!) : v)).join('  ').trimEnd()}\n`;

export const TABLE_HEADER = tableLine(COLUMNS);

export function formatTableRow(row: AuditRow): string {
  return tableLine(cells(row));
}

/** The export as text, header first: what a file or an HTTP response body holds. */
export async function* formatActivity(rows: AsyncIterable<AuditRow>, format: AuditFormat): AsyncGenerator<string> {
  if (format === 'csv') yield CSV_HEADER;
  if (format === 'table') yield TABLE_HEADER;
  const line = format === 'csv' ? formatCsv : format === 'jsonl' ? formatJsonl : formatTableRow;
  // Lines are joined into chunks of about 64 KiB: one write per line would cost more than the line.
  let chunk = '';
  for await (const row of rows) {
    chunk += line(row);
    if (chunk.length >= 65_536) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/** auditActivity + formatActivity: the streaming export in one call (for the HTTP auditor endpoint). */
export function exportActivity(store: EventStore, filter: AuditFilter, format: AuditFormat, options: AuditOptions = {}): AsyncGenerator<string> {
  return formatActivity(auditActivity(store, filter, options), format);
}
