import { Type } from 'typebox';
import type { RoutePlugin } from '../context.js';
import { PageQuery, UserSchema, errorResponses } from '../schemas.js';
import { normalizeUsername } from '../../../domain/username.js';

export const userRoutes: RoutePlugin = async (app, ctx) => {
  app.get('/api/users', {
    config: { auth: true },
    schema: {
      tags: ['users'],
      summary: 'Search users by username prefix (case-insensitive), ordered by username',
      querystring: PageQuery({ prefix: Type.Optional(Type.String({ maxLength: 32 })) }, { max: 100, dflt: 20 }),
      response: {
        200: Type.Object({ users: Type.Array(UserSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
        ...errorResponses(400, 401),
      },
    },
  }, async (request) => {
    const { prefix, limit, cursor } = request.query;
    const page = await ctx.deps.reads.searchUsers({ prefix: normalizeUsername(prefix ?? ''), limit: limit ?? 20, ...(cursor ? { cursor } : {}) });
    return { users: page.items, nextCursor: page.nextCursor };
  });
};
