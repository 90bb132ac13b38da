/**
 * The activity log and the error log. A user sees only their own activity; an auditor sees anyone's
 * and may filter by user, action and time range. The error log is for auditors only.
 */
import { Readable } from 'node:stream';
import { Type } from 'typebox';
import { ACTIVITY_ACTIONS } from '../../../infra/read-models/entities/activity-log.js';
import type { HttpApp, RouteContext } from '../context.js';
import { ApiError } from '../errors.js';
import { requireAuth } from '../plugins/auth.js';
import { Cursor, Limit, errorResponses } from '../schemas.js';

const TimeRange = {
  from: Type.Optional(Type.String({ format: 'date-time', description: 'Inclusive, ISO-8601' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'Exclusive, ISO-8601' })),
};

const NextCursor = Type.Union([Type.String(), Type.Null()]);

const asDate = (iso: string | undefined): Date | undefined => {
  if (iso === undefined) return undefined;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new ApiError('VALIDATION_FAILED', undefined, [{ in: 'querystring', path: '/from', message: 'not a date-time' }]);
  return d;
};

export function activityRoutes(app: HttpApp, ctx: RouteContext): void {
  const { deps } = ctx;

  app.get('/api/activity', {
    config: { auth: true },
    schema: {
      tags: ['activity'],
      summary: 'Activity log (logins, logouts, chats opened …), newest first; auditors may query anyone',
      querystring: Type.Object({
        userId: Type.Optional(Type.String({ maxLength: 64 })),
        action: Type.Optional(Type.Enum(ACTIVITY_ACTIONS)),
        ...TimeRange,
        limit: Type.Optional(Limit(200, 50)),
        cursor: Type.Optional(Cursor),
      }, { additionalProperties: false }),
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
    const from = asDate(q.from);
    const to = asDate(q.to);
    const page = await deps.reads.activity({
      limit: q.limit ?? 50,
      ...(userId !== undefined ? { userId } : {}),
      ...(q.action !== undefined ? { action: q.action } : {}),
      ...(from ? { from } : {}),
      ...(to ? { to } : {}),
      ...(q.cursor ? { cursor: q.cursor } : {}),
    });
    return { entries: page.items, nextCursor: page.nextCursor };
  });

  app.get('/api/activity/export', {
    config: { auth: true },
    schema: {
      tags: ['activity'],
      summary: 'Auditors: activity replayed from the event log (the source of truth), as CSV or JSON Lines, streamed; each line carries the event id and global position',
      querystring: Type.Object({
        format: Type.Union([Type.Literal('csv'), Type.Literal('jsonl')]),
        userId: Type.Optional(Type.String({ maxLength: 64 })),
        action: Type.Optional(Type.Enum(ACTIVITY_ACTIONS)),
        ...TimeRange,
      }, { additionalProperties: false }),
      response: errorResponses(400, 401, 403, 404),
    },
  }, async (request, reply) => {
    const { session } = requireAuth(request);
    if (session.role !== 'auditor') throw new ApiError('FORBIDDEN', 'Only auditors can export activity.');
    if (!deps.auditExport) throw new ApiError('NOT_FOUND');
    const q = request.query;
    const from = asDate(q.from);
    const to = asDate(q.to);
    const filter = {
      ...(q.userId !== undefined ? { userId: q.userId } : {}),
      ...(q.action !== undefined ? { action: q.action } : {}),
      ...(from ? { from } : {}),
      ...(to ? { to } : {}),
    };
    reply.header('content-type', q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8');
    return reply.send(Readable.from(deps.auditExport(filter, q.format)));
  });

  app.get('/api/errors', {
    config: { auth: true },
    schema: {
      tags: ['activity'],
      summary: 'Error log (auditors only), newest first',
      querystring: Type.Object({
        process: Type.Optional(Type.String({ maxLength: 64, description: 'Only lines of this process (chat-api, chat-projector …)' })),
        minLevel: Type.Optional(Type.Integer({ minimum: 10, maximum: 60, description: 'pino level: 50 error, 60 fatal' })),
        ...TimeRange,
        limit: Type.Optional(Limit(200, 50)),
        cursor: Type.Optional(Cursor),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          errors: Type.Array(Type.Object({
            at: Type.String({ format: 'date-time' }),
            level: Type.Integer(),
            process: Type.String(),
            message: Type.String(),
            context: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
          })),
          nextCursor: NextCursor,
        }),
        ...errorResponses(400, 401, 403),
      },
    },
  }, async (request) => {
    const { session } = requireAuth(request);
    if (session.role !== 'auditor') throw new ApiError('FORBIDDEN', 'Only auditors can read the error log.');
    const q = request.query;
    const from = asDate(q.from);
    const to = asDate(q.to);
    const page = await deps.reads.errors({
      limit: q.limit ?? 50,
      ...(q.process !== undefined ? { process: q.process } : {}),
      ...(q.minLevel !== undefined ? { minLevel: q.minLevel } : {}),
      ...(from ? { from } : {}),
      ...(to ? { to } : {}),
      ...(q.cursor ? { cursor: q.cursor } : {}),
    });
    return { errors: page.items, nextCursor: page.nextCursor };
  });
}
