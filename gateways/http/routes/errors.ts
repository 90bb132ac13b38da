/** GET /api/errors: the error log, for auditors only. */
import { Type } from 'typebox';
import type { RoutePlugin } from '../context.js';
import { ApiError } from '../errors.js';
import { requireAuth } from '../plugins/auth.js';
import { Cursor, Limit, errorResponses } from '../schemas.js';
import { NextCursor, TimeRange, asDate } from '../time-range.js';

export const errorRoutes: RoutePlugin = async (app, ctx) => {
  const { deps } = ctx;

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
    const from = asDate(q.from, 'from');
    const to = asDate(q.to, 'to');
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
};
