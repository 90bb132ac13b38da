/**
 * GET /api/stats/messages-per-day: messages a user sent per UTC day, from the
 * messages-per-user-per-day projection. A user sees their own counts; an auditor anyone's.
 *
 * The reader is HttpDeps.messageCounts, which the composition root builds over the read models
 * (`(q) => messageCountsPerDay(db, q)`, projections/messages-per-user-per-day.ts), so the route
 * does not depend on the ORM.
 */
import { Type } from 'typebox';
import type { RoutePlugin } from '../context.js';
import type { HttpDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { requireAuth } from '../plugins/auth.js';
import { errorResponses } from '../schemas.js';

const Day = (description: string) => Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description });

/** A real calendar day (the pattern alone lets 2026-02-30 through), and not in year 0: days share the range of every time query. */
const isDay = (v: string): boolean => {
  const d = new Date(`${v}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === v && v >= '0001-01-01';
};

const invalid = (path: string, message: string): ApiError => new ApiError('VALIDATION_FAILED', undefined, [{ in: 'querystring', path, message }]);

export const statsRoutes: RoutePlugin<{ deps: Pick<HttpDeps, 'messageCounts'> }> = async (app, { deps }) => {
  const read = deps.messageCounts;
  // The composition leaves the reader out where the projection is not kept: the URL then does not exist (404).
  if (!read) return;

  app.get('/api/stats/messages-per-day', {
    config: { auth: true },
    schema: {
      tags: ['activity'],
      summary: 'Messages sent per UTC day by a user (yourself; auditors: anyone), oldest day first; days without messages are left out',
      querystring: Type.Object({
        userId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Default: yourself' })),
        from: Type.Optional(Day('First day, inclusive (YYYY-MM-DD, UTC); after `to` is 400 VALIDATION_FAILED')),
        to: Type.Optional(Day('Last day, inclusive (YYYY-MM-DD, UTC)')),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          userId: Type.String(),
          days: Type.Array(Type.Object({ day: Type.String(), count: Type.Integer({ minimum: 1 }) })),
        }),
        ...errorResponses(400, 401, 403),
      },
    },
  }, async (request) => {
    const { session } = requireAuth(request);
    const q = request.query;
    if (q.userId !== undefined && q.userId !== session.userId && session.role !== 'auditor') {
      throw new ApiError('FORBIDDEN', 'Only auditors can see other users\' message counts.');
    }
    if (q.from !== undefined && !isDay(q.from)) throw invalid('/from', 'not a calendar day in the years 1 to 9999');
    if (q.to !== undefined && !isDay(q.to)) throw invalid('/to', 'not a calendar day in the years 1 to 9999');
    if (q.from !== undefined && q.to !== undefined && q.from > q.to) throw invalid('/from', 'must not be after to');
    const userId = q.userId ?? session.userId;
    const days = await read({ userId, ...(q.from !== undefined ? { from: q.from } : {}), ...(q.to !== undefined ? { to: q.to } : {}) });
    return { userId, days };
  });
};
