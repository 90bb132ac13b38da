/**
 * The audit trail: who did what, newest first, filtered by user, action and time range, paged with a
 * cursor on (at, position). Position is the event's place in the log, so the cursor stays valid
 * across a rebuild of the table (whose surrogate ids change).
 */
import type { FilterQuery } from '@mikro-orm/core';
import { ACTIVITY_ACTIONS, ActivityEntity, type ActivityAction, type ActivityRow } from '../entities/activity-log.js';
import { emOf, type ReadModelOrm } from '../orm.js';
import { InvalidQueryError, checkTimeRange, clampLimit, decodeCursor, toPage, type Page } from './page.js';

export interface ActivityQuery {
  userId?: string;
  action?: ActivityAction;
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
  limit?: number;
  cursor?: string;
}

export interface ActivityEntry {
  eventId: string;
  userId: string;
  action: ActivityAction;
  /** The chat acted on, if any. */
  target: string | null;
  at: Date;
  position: string;
}

export const isActivityAction = (s: string): s is ActivityAction => (ACTIVITY_ACTIONS as ReadonlyArray<string>).includes(s);

export async function queryActivity(orm: ReadModelOrm, q: ActivityQuery = {}): Promise<Page<ActivityEntry>> {
  const limit = clampLimit(q.limit);
  if (q.action !== undefined && !isActivityAction(q.action)) throw new InvalidQueryError(`unknown action "${String(q.action)}"`);
  const and: Array<FilterQuery<ActivityRow>> = [];
  if (q.userId !== undefined) and.push({ userId: q.userId });
  if (q.action !== undefined) and.push({ action: q.action });
  checkTimeRange(q);
  if (q.from) and.push({ at: { $gte: q.from } });
  if (q.to) and.push({ at: { $lt: q.to } });
  if (q.cursor) {
    const [ms, position] = decodeCursor(q.cursor, ['time', 'position']) as [number, string];
    const at = new Date(ms);
    and.push({ $or: [{ at: { $lt: at } }, { at, position: { $lt: BigInt(position) } }] });
  }
  const rows = await emOf(orm).find(ActivityEntity, { $and: and }, { orderBy: [{ at: 'desc' }, { position: 'desc' }], limit: limit + 1 });
  return toPage(
    rows,
    limit,
    (r) => ({ eventId: r.eventId, userId: r.userId, action: r.action, target: r.target, at: r.at, position: String(r.position) }),
    (r) => [r.at.getTime(), String(r.position)],
  );
}
