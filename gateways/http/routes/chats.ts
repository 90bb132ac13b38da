/**
 * Chats: my chats (newest activity first), start a chat with someone (one per pair: an existing
 * chat is returned with 200 instead of 201), and open a chat (recorded in the activity log).
 */
import { Type } from 'typebox';
import { openChat } from '../../../commands/open-chat.js';
import { startChat } from '../../../commands/start-chat.js';
import type { HttpApp, RouteContext } from '../context.js';
import { requireAuth } from '../plugins/auth.js';
import { runCommand } from '../run-command.js';
import { ChatIdParams, ChatSchema, Cursor, Limit, errorResponses } from '../schemas.js';

const ChatRef = Type.Object({
  chatId: Type.String(),
  participants: Type.Tuple([Type.String(), Type.String()]),
  status: Type.Union([Type.Literal('created'), Type.Literal('existing')]),
});

export function chatRoutes(app: HttpApp, ctx: RouteContext): void {
  const { deps, metrics } = ctx;

  app.get('/api/chats', {
    config: { auth: true },
    schema: {
      tags: ['chats'],
      summary: 'My chats with the other participant and the last message, newest first',
      querystring: Type.Object({ limit: Type.Optional(Limit(100, 50)), cursor: Type.Optional(Cursor) }, { additionalProperties: false }),
      response: {
        200: Type.Object({ chats: Type.Array(ChatSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
        ...errorResponses(400, 401),
      },
    },
  }, async (request) => {
    const { session } = requireAuth(request);
    const { limit, cursor } = request.query;
    const page = await deps.reads.chatsOf({ userId: session.userId, limit: limit ?? 50, ...(cursor ? { cursor } : {}) });
    return { chats: page.items, nextCursor: page.nextCursor };
  });

  app.post('/api/chats', {
    config: { auth: true },
    schema: {
      tags: ['chats'],
      summary: 'Start a chat with a user; 201 when created, 200 with the existing chat otherwise',
      body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
      response: { 200: ChatRef, 201: ChatRef, ...errorResponses(400, 401, 403, 404, 415, 422) },
    },
  }, async (request, reply) => {
    const { session } = requireAuth(request);
    const chat = await runCommand(metrics, 'startChat', () => startChat(deps.commands, { initiatorId: session.userId, otherUsername: request.body.username }));
    return reply.status(chat.status === 'created' ? 201 : 200).send(chat);
  });

  app.post('/api/chats/:chatId/open', {
    config: { auth: true },
    schema: {
      tags: ['chats'],
      summary: 'Record that I opened a chat (activity log); participants only',
      params: ChatIdParams,
      response: {
        200: Type.Object({ chatId: Type.String(), participants: Type.Tuple([Type.String(), Type.String()]) }),
        ...errorResponses(401, 403, 404),
      },
    },
  }, async (request) => {
    const { session } = requireAuth(request);
    return runCommand(metrics, 'openChat', () => openChat(deps.commands, { userId: session.userId, chatId: request.params.chatId }));
  });
}
