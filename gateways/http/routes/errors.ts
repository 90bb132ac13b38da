/** GET /api/errors: the error log, for auditors only. */
import { Type } from 'typebox';
import type { RoutePlugin } from '../context.js';
import { ApiError } from '../errors.js';
import { requireAuth } from '../plugins/auth.js';
import { errorResponses } from '../schemas.js';
import { LogPageQuery, NextCursor, logPageOf } from '../time-range.js';

export const errorRoutes: RoutePlugin = async (app, ctx) => {
  const { deps } = ctx;

  app.get('/api/errors', {
    config: { auth: true },
    schema: {
      tags: ['activity'],
      summary: 'Error log (auditors only), newest first',
      querystring: LogPageQuery({
        process: Type.Optional(Type.String({ maxLength: 64, description: 'Only lines of this process (chat-api, chat-projector …)' })),
        minLevel: Type.Optional(Type.Integer({ minimum: 10, maximum: 60, description: 'pino level: 50 error, 60 fatal' })),
      }),
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
    const page = await deps.reads.errors({
      ...logPageOf(q),
      ...(q.process !== undefined ? { process: q.process } : {}),
      ...(q.minLevel !== undefined ? { minLevel: q.minLevel } : {}),
    });
    return { errors: page.items, nextCursor: page.nextCursor };
  });
};
