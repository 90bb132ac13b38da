/**
 * Rows of a read-model table as audit output shows them (chat audit verify): readable values, and
 * never what users wrote.
 */
import { toDate } from '../ports/sql.js';
import type { ColumnKind } from '../ports/read-model.js';

export type Cell = string | number | null;
export type Row = Record<string, Cell>;

const MAX_CELL = 120;

/**
 * Columns that hold what users wrote: a text column named `body` or `…_body` (docs/projections.md).
 * Audit output is read by operators and lands in CI logs, so it shows their length, never the text
 * (docs/privacy.md).
 */
export const isMessageTextColumn = (column: string): boolean => column === 'body' || column.endsWith('_body');

/**
 * A row as a reader wants it: times as ISO-8601 whatever the dialect stored, 64-bit integers as text,
 * long text cut (message text whole: it is compared, then hidden by withoutText).
 */
export function displayRow(columns: readonly string[], kinds: ReadonlyMap<string, ColumnKind>, raw: Record<string, unknown>): Row {
  const out: Row = {};
  for (const c of columns) {
    const v = raw[c];
    const kind = kinds.get(c);
    if (v === null || v === undefined) out[c] = null;
    else if (kind === 'time') out[c] = toDate(v)?.toISOString() ?? String(v);
    else if (kind === 'bigint') out[c] = String(v);
    else if (kind === 'number') out[c] = Number(v);
    else {
      const s = v instanceof Date ? v.toISOString() : String(v);
      out[c] = s.length > MAX_CELL && !isMessageTextColumn(c) ? `${s.slice(0, MAX_CELL)}…` : s;
    }
  }
  return out;
}

/** The row with each message text replaced by its length in characters. */
export function withoutText(row: Row): Row {
  const out: Row = { ...row };
  for (const [c, v] of Object.entries(row)) {
    if (typeof v === 'string' && isMessageTextColumn(c)) out[c] = `<${[...v].length} characters>`;
  }
  return out;
}
