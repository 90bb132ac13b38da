/** The SQL projections this service runs, by name. */
import { activityLogProjection } from './activity-log.js';
import { chatsProjection } from './chats.js';
import { messagesPerUserPerDayProjection } from './messages-per-user-per-day.js';
import { messagesProjection } from './messages.js';
import type { SqlProjection } from './projection.js';
import { readsProjection } from './reads.js';
import { usersProjection } from './users.js';

export const SQL_PROJECTIONS: ReadonlyArray<SqlProjection> = [
  usersProjection,
  chatsProjection,
  messagesProjection,
  activityLogProjection,
  messagesPerUserPerDayProjection,
  readsProjection,
];

export function sqlProjectionNamed(name: string): SqlProjection | undefined {
  return SQL_PROJECTIONS.find((p) => p.name === name);
}
