/**
 * The activity log: a user sees only their own activity; an auditor sees anyone's and may filter by
 * user, action and time range, or export it replayed from the event log.
 */
import { Readable } from 'node:stream';
import { Type } from 'typebox';
import { ACTIVITY_ACTIONS } from '../../../projections/activity-of.js';
import type { RoutePlugin } from '../context.js';
import { ApiError } from '../errors.js';
import { requireAuth } from '../plugins/auth.js';
import { errorResponses } from '../schemas.js';
import { LogPageQuery, NextCursor, TimeRange, logPageOf, timeRangeOf } from '../time-range.js';

/** What both the page and the export filter on, besides the time range. */
const ActivityFilters = {
  userId: Type.Optional(Type.String({ maxLength: 64 })),
  action: Type.Optional(Type.Enum(ACTIVITY_ACTIONS)),
};

export const activityRoutes: RoutePlugin = async (app, ctx) => {
  const { deps } = ctx;

  app.get('/api/activity', {
    config: { auth: true },
    schema: {
      tags: ['activity'],
      summary: 'Activity log (logins, logouts, chats opened …), newest first; auditors may query anyone',
      querystring: LogPageQuery(ActivityFilters),
      response: {
        200: Type.Object({
          entries: Type.Array(Type.Object({
            userId: Type.String(), action: Type.Enum(ACTIVITY_ACTIONS), chatId: Type.Union([Type.String(), Type.Null()]), at: Type.String({ format: 'date-time' }),
          })),
          nextCursor: NextCursor,
        }),
        ...errorResponses(400, 401, 403),
      },
    },
  }, async (request) => {
    const { session } = requireAuth(request);
    const q = request.query;
    const auditor = session.role === 'auditor';
    if (!auditor && q.userId !== undefined && q.userId !== session.userId) throw new ApiError('FORBIDDEN', 'Only auditors can see other users\' activity.');
    const userId = auditor ? q.userId : session.userId;
    const page = await deps.reads.activity({
      ...logPageOf(q),
      ...(userId !== undefined ? { userId } : {}),
      ...(q.action !== undefined ? { action: q.action } : {}),
    });
    return { entries: page.items, nextCursor: page.nextCursor };
  });

  app.get('/api/activity/export', {
    config: { auth: true },
    schema: {
      tags: ['activity'],
      summary: 'Auditors: activity replayed from the event log (the source of truth), as CSV or JSON Lines, streamed; each line carries the event id and global position',
      querystring: Type.Object({
        format: Type.Enum(['csv', 'jsonl']),
        ...ActivityFilters,
        ...TimeRange,
      }, { additionalProperties: false }),
      response: {
        200: {
          description: 'One line per activity entry, oldest first, streamed; the file ends when the log has been read',
          content: {
            // A string in the document; a stream in the handler (sent as it is read, never serialized).
            'text/csv': { schema: Type.Unsafe<Readable>({ type: 'string', description: 'A header line, then one row per entry' }) },
            'application/x-ndjson': { schema: Type.Unsafe<Readable>({ type: 'string', description: 'One JSON object per line' }) },
          },
        },
        ...errorResponses(400, 401, 403, 404),
      },
    },
  }, async (request, reply) => {
    const { session } = requireAuth(request);
    if (session.role !== 'auditor') throw new ApiError('FORBIDDEN', 'Only auditors can export activity.');
    if (!deps.auditExport) throw new ApiError('NOT_FOUND');
    const q = request.query;
    const filter = {
      ...(q.userId !== undefined ? { userId: q.userId } : {}),
      ...(q.action !== undefined ? { action: q.action } : {}),
      ...timeRangeOf(q),
    };
    reply.header('content-type', q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
    return reply.send(Readable.from(deps.auditExport(filter, q.format)));
  });
};
