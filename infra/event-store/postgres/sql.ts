/**
 * The PostgreSQL store's schema and statements, and the row shapes they return. Why the statements
 * look as they do (positions from transaction ids, the visibility bound, one-statement appends, group
 * commit, notify within the append) is told in docs/architecture.md, "The PostgreSQL event store".
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { RecordedEvent } from '../../../commands/ports/event-store.js';

/** Expected revision codes in the batch statement's per-stream array (exact revisions are >= 0). */
export const EXPECT_ANY = -2;
export const EXPECT_NO_STREAM = -1;

const UNIQUE_VIOLATION = '23505';
export const EVENT_ID_KEY = 'events_event_id_key';
export const STREAM_REVISION_KEY = 'events_stream_id_revision_key';

const quoteLiteral = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/** pg_notify refuses channel names of 64 bytes or more while LISTEN would silently truncate them. */
export function channelFor(schema: string): string {
  const name = `events_${schema}`;
  return Buffer.byteLength(name) <= 63 ? name : `events_${createHash('sha256').update(schema).digest('hex').slice(0, 32)}`;
}

export function isUniqueViolation(err: unknown, constraint: string): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; constraint?: unknown };
  return e.code === UNIQUE_VIOLATION && e.constraint === constraint;
}

/**
 * Events' JSON texts as one JSON array, for jsonb_array_elements: the driver writes a string[]
 * parameter as an array literal, escaping every quote of every payload, which cost about as much
 * as the rest of an append's client-side work.
 */
export const jsonArray = (texts: readonly string[]): string => `[${texts.join(',')}]`;

export interface EventRow {
  event_id: string;
  stream_id: string;
  type: string;
  revision: number;
  position: string; // bigint arrives as text; converted without going through a double
  data: unknown;
  metadata: Record<string, unknown> | null;
  created_at: Date;
}

const COLUMNS = 'event_id, stream_id, type, revision, position, data, metadata, created_at';
/**
 * A subscription page's columns: as COLUMNS, but the time as epoch milliseconds. Every live reader
 * reads every event, and the driver's timestamptz parser (text to Date) was a visible share of their CPU.
 */
const PAGE_COLUMNS = 'event_id, stream_id, type, revision, position, data, metadata, floor(extract(epoch FROM created_at) * 1000)::float8 AS created_ms';

/** A subscription page's row (subscribePage). */
export interface PageRow extends Omit<EventRow, 'created_at'> {
  created_ms: number;
}

function recorded(row: Omit<EventRow, 'created_at'>, createdAt: Date): RecordedEvent {
  return {
    id: row.event_id,
    streamId: row.stream_id,
    type: row.type,
    revision: row.revision,
    position: BigInt(row.position),
    data: row.data,
    metadata: row.metadata ?? {},
    createdAt,
  };
}

export const toRecorded = (row: EventRow): RecordedEvent => recorded(row, row.created_at);
export const pageRowToRecorded = (row: PageRow): RecordedEvent => recorded(row, new Date(row.created_ms));

/** The statements of one store, built once with its schema quoted in; run as named prepared statements. */
export function statements(schema: string, channel: string) {
  const s = pg.escapeIdentifier(schema);
  const events = `${s}.events`;
  // Sent by each append statement, so within its transaction: delivered exactly when it commits. The
  // payload is the commit's highest position, so a subscription that has already read that far skips
  // the read (see PgSubscription.wake).
  const notify = `pg_notify(${quoteLiteral(channel)}, (SELECT max(position) FROM ins)::text)`;
  const streams = `${s}.streams`;
  // Rows below the snapshot's xmin are final (see docs/architecture.md). pg_current_snapshot() is the
  // statement's own snapshot, the one the scan sees rows with, so nothing can commit between taking the
  // bound and reading below it. The position bound is the same condition in index terms, so a page
  // read stops at the bound instead of filtering the whole tail.
  const visible = `position < (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)
      AND transaction_id < (SELECT pg_snapshot_xmin(pg_current_snapshot()))`;
  // $1 stream, $2 event count, $3..$6 per event (ids and types as arrays; data and metadata as one JSON
  // array each: see jsonArray), $7 expected revision (exact only).
  // The streams step yields one row (the stream's new last revision) exactly when the expected
  // revision holds; with no row nothing is inserted and the statement returns no row.
  const append = (streamStep: string): string => `
    WITH s AS (${streamStep}),
    ins AS (
      INSERT INTO ${events} (stream_id, revision, position, event_id, type, data, metadata)
      SELECT $1, s.revision - $2::int + u.ord::int, (pg_current_xact_id()::text::bigint << 16) | u.ord,
             u.id, u.type, u.data, u.metadata
      FROM s CROSS JOIN ROWS FROM (unnest($3::uuid[]), unnest($4::text[]), jsonb_array_elements($5::jsonb), jsonb_array_elements($6::jsonb))
        WITH ORDINALITY AS u(id, type, data, metadata, ord)
      RETURNING position
    )
    SELECT s.revision, (SELECT max(position) FROM ins) AS position, ${notify}::text AS notified FROM s`;
  return {
    schema: `
      CREATE SCHEMA IF NOT EXISTS ${s};
      CREATE TABLE IF NOT EXISTS ${streams} (
        stream_id text PRIMARY KEY,
        revision  int  NOT NULL
      );
      CREATE TABLE IF NOT EXISTS ${events} (
        global_position bigserial   PRIMARY KEY,
        transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
        position        bigint      NOT NULL,
        stream_id       text        NOT NULL,
        revision        int         NOT NULL,
        event_id        uuid        NOT NULL CONSTRAINT ${EVENT_ID_KEY} UNIQUE,
        type            text        NOT NULL,
        data            jsonb       NOT NULL,
        metadata        jsonb       NOT NULL DEFAULT '{}',
        created_at      timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ${STREAM_REVISION_KEY} UNIQUE (stream_id, revision),
        -- Position must encode its transaction id; should xid << 16 ever overflow, fail loudly, not misorder.
        CONSTRAINT events_position_check CHECK (position >> 16 = transaction_id::text::bigint)
      );
      CREATE UNIQUE INDEX IF NOT EXISTS events_position_key ON ${events} (position);`,
    appendNoStream: append(`INSERT INTO ${streams} (stream_id, revision) VALUES ($1, $2::int - 1)
      ON CONFLICT (stream_id) DO NOTHING RETURNING revision`),
    appendAny: append(`INSERT INTO ${streams} AS st (stream_id, revision) VALUES ($1, $2::int - 1)
      ON CONFLICT (stream_id) DO UPDATE SET revision = st.revision + $2::int RETURNING revision`),
    appendExact: append(`UPDATE ${streams} SET revision = revision + $2::int
      WHERE stream_id = $1 AND revision = $7::int RETURNING revision`),
    // Group commit: several streams' appends in one statement. $1 stream ids, $2 event counts, $3 expected
    // (EXPECT_ANY, EXPECT_NO_STREAM or the exact revision), per stream; $4 the stream's index (1-based)
    // and $5 the event's index within its append (1-based), $6..$9 as in append, per event. Existing
    // streams rows are locked first in stream id order (no deadlock between batches), then each stream
    // whose expectation holds is created (in stream id order as well) or moved on. A row comes back per stream: written or not, its
    // revision (new, or current as locked: null when it did not exist), and for one not written
    // whether some of its event ids are already stored (a retried append), so that a plain conflict
    // needs no further query.
    appendBatch: `
    WITH req AS (
      SELECT r.stream_id, r.n, r.expected, r.si::int AS si
      FROM unnest($1::text[], $2::int[], $3::int[]) WITH ORDINALITY AS r(stream_id, n, expected, si)
    ),
    locked AS MATERIALIZED (
      SELECT st.stream_id, st.revision FROM ${streams} st WHERE st.stream_id = ANY($1::text[]) ORDER BY st.stream_id FOR UPDATE
    ),
    created AS (
      INSERT INTO ${streams} (stream_id, revision)
      SELECT req.stream_id, req.n - 1 FROM req
      WHERE req.expected < 0 AND NOT EXISTS (SELECT 1 FROM locked l WHERE l.stream_id = req.stream_id)
      -- In id order too: ON CONFLICT waits for another transaction's insert of the same row.
      ORDER BY req.stream_id
      ON CONFLICT (stream_id) DO NOTHING
      RETURNING stream_id, revision
    ),
    updated AS (
      UPDATE ${streams} st SET revision = st.revision + req.n
      FROM req JOIN locked l ON l.stream_id = req.stream_id
      WHERE st.stream_id = req.stream_id AND req.expected <> ${EXPECT_NO_STREAM}
        AND (req.expected = ${EXPECT_ANY} OR st.revision = req.expected)
      RETURNING st.stream_id, st.revision
    ),
    ok AS (SELECT stream_id, revision FROM created UNION ALL SELECT stream_id, revision FROM updated),
    ins AS (
      INSERT INTO ${events} (stream_id, revision, position, event_id, type, data, metadata)
      SELECT ok.stream_id, ok.revision - req.n + e.k, (pg_current_xact_id()::text::bigint << 16) | e.ord,
             e.id, e.type, e.data, e.metadata
      FROM ROWS FROM (unnest($4::int[]), unnest($5::int[]), unnest($6::uuid[]), unnest($7::text[]),
                      jsonb_array_elements($8::jsonb), jsonb_array_elements($9::jsonb))
             WITH ORDINALITY AS e(si, k, id, type, data, metadata, ord)
      JOIN req ON req.si = e.si
      JOIN ok ON ok.stream_id = req.stream_id
      RETURNING stream_id, position
    ),
    -- Grouped once: a per-row subquery over ins would make the statement quadratic in the batch size.
    last AS (SELECT stream_id, max(position) AS position FROM ins GROUP BY stream_id)
    SELECT req.stream_id, ok.revision IS NOT NULL AS written,
           coalesce(ok.revision, l.revision) AS revision,
           last.position,
           ok.revision IS NULL AND EXISTS (
             SELECT 1 FROM unnest($4::int[], $6::uuid[]) AS e(si, id) JOIN ${events} ev ON ev.event_id = e.id WHERE e.si = req.si
           ) AS stored,
           (SELECT ${notify} WHERE EXISTS (SELECT 1 FROM ok))::text AS notified
    FROM req LEFT JOIN ok ON ok.stream_id = req.stream_id LEFT JOIN locked l ON l.stream_id = req.stream_id
      LEFT JOIN last ON last.stream_id = req.stream_id`,
    streamRevision: `SELECT revision FROM ${streams} WHERE stream_id = $1`,
    byIds: `SELECT event_id, stream_id, revision, position FROM ${events} WHERE event_id = ANY($1::uuid[])`,
    readForwards: `SELECT ${COLUMNS} FROM ${events} WHERE stream_id = $1 AND revision >= $2 ORDER BY revision ASC LIMIT $3`,
    readBackwards: `SELECT ${COLUMNS} FROM ${events} WHERE stream_id = $1 AND revision <= $2 ORDER BY revision DESC LIMIT $3`,
    readAll: `SELECT ${COLUMNS} FROM ${events} WHERE position > $1 AND ${visible} ORDER BY position ASC LIMIT $2`,
    // A subscription's page and its held-back flag in one statement, so from one snapshot: the rows of
    // readAll (held_back NULL) followed by one row with only held_back set, true when committed events
    // past $1 wait behind an older open transaction (as in tail). The outer ORDER BY keeps the page in
    // position order and puts the flag row last (NULLS LAST). The time comes as epoch milliseconds
    // (PageRow), cut to the millisecond as the driver's timestamptz parser cuts it.
    subscribePage: `WITH page AS (
        SELECT ${COLUMNS} FROM ${events} WHERE position > $1 AND ${visible} ORDER BY position ASC LIMIT $2
      )
      SELECT ${PAGE_COLUMNS}, NULL::boolean AS held_back FROM page
      UNION ALL
      SELECT NULL::uuid, NULL::text, NULL::text, NULL::int, NULL::bigint, NULL::jsonb, NULL::jsonb, NULL::float8,
             t.tail > $1::bigint AND t.tail >= t.bound
      FROM (SELECT coalesce((SELECT max(position) FROM ${events}), 0) AS tail,
                   pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16 AS bound) AS t
      ORDER BY position ASC NULLS LAST`,
    // The newest committed event, visible or not, and the visibility bound, from one snapshot: when
    // tail >= bound, committed events wait behind an older open transaction.
    tail: `SELECT coalesce((SELECT max(position) FROM ${events}), 0) AS tail,
      pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16 AS bound`,
    bound: `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16 AS bound`,
    head: `SELECT coalesce(max(position), 0) AS position FROM ${events} WHERE ${visible}`,
  };
}

export type Statements = ReturnType<typeof statements>;
