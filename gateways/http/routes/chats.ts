/**
 * Chats: my chats (newest activity first), start a chat with someone (one per pair: an existing
 * chat is returned with 200 instead of 201), and open a chat (recorded in the activity log).
 */
import { Type } from 'typebox';
import { markRead } from '../../../commands/mark-read.js';
import { openChat } from '../../../commands/open-chat.js';
import { startChat } from '../../../commands/start-chat.js';
import { refuseOutsider } from '../chat-access.js';
import type { RoutePlugin } from '../context.js';
import { requireAuth } from '../plugins/auth.js';
import { runCommand } from '../run-command.js';
import { ChatIdParams, ChatSchema, Cursor, Limit, errorResponses, withErased } from '../schemas.js';

// An array with a fixed length rather than Type.Tuple: a tuple becomes `items: [..]`, which OpenAPI 3.0
// forbids, and client generators refuse the whole document over it.
const Participants = Type.Array(Type.String(), { minItems: 2, maxItems: 2, description: 'The two user ids, sorted' });

const ChatRef = Type.Object({
  chatId: Type.String(),
  participants: Participants,
  status: Type.Union([Type.Literal('created'), Type.Literal('existing')]),
});

export const chatRoutes: RoutePlugin = async (app, ctx) => {
  const { deps, metrics } = ctx;

  app.get('/api/chats', {
    config: { auth: true },
    schema: {
      tags: ['chats'],
      summary: 'My chats with the other participant and the last message, newest first',
      querystring: Type.Object({ limit: Type.Optional(Limit(100, 50)), cursor: Type.Optional(Cursor) }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          chats: Type.Array(ChatSchema),
          nextCursor: Type.Union([Type.String(), Type.Null()]),
          unreadTotal: Type.Integer({ minimum: 0, description: 'The sum of my unread counts over all my chats (not only this page)' }),
        }),
        ...errorResponses(400, 401),
      },
    },
  }, async (request) => {
    const { session } = requireAuth(request);
    const { limit, cursor } = request.query;
    const [page, unreadTotal] = await Promise.all([
      deps.reads.chatsOf({ userId: session.userId, limit: limit ?? 50, ...(cursor ? { cursor } : {}) }),
      deps.reads.unreadTotal(session.userId),
    ]);
    return { chats: page.items.map((c) => ({ ...c, lastMessage: c.lastMessage && withErased(c.lastMessage) })), nextCursor: page.nextCursor, unreadTotal };
  });

  app.post('/api/chats', {
    config: { auth: true },
    schema: {
      tags: ['chats'],
      summary: 'Start a chat with a user; 201 when created, 200 with the existing chat otherwise (also when the other user has since erased their account: it still opens); 410 USER_ERASED for a new chat with an erased account',
      body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
      response: { 200: ChatRef, 201: ChatRef, ...errorResponses(400, 401, 403, 404, 410, 413, 415, 422, 429) },
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
      summary: 'Record that I opened a chat (activity log); participants only. otherErased: the other participant erased their account, so the chat takes no new messages',
      params: ChatIdParams,
      response: {
        200: Type.Object({ chatId: Type.String(), participants: Participants, otherErased: Type.Boolean() }),
        ...errorResponses(400, 401, 403, 404, 429),
      },
    },
  }, async (request) => {
    const { session } = requireAuth(request);
    refuseOutsider(request.params.chatId, session.userId);
    return runCommand(metrics, 'openChat', () => openChat(deps.commands, { userId: session.userId, chatId: request.params.chatId }));
  });

  app.post('/api/chats/:chatId/read', {
    config: { auth: true },
    schema: {
      tags: ['chats'],
      summary: 'Mark a chat read up to a revision; participants only. Monotonic: a revision at or below my mark changes nothing (changed: false)',
      params: ChatIdParams,
      body: Type.Object({
        revision: Type.Integer({ minimum: 0, maximum: 2_147_483_647, description: "Read up to and including this revision; at most the chat's newest (else READ_REVISION_AHEAD)" }),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          chatId: Type.String(),
          upToRevision: Type.Integer({ minimum: 0, description: 'Where my mark now stands: the revision sent, or a later one already marked' }),
          changed: Type.Boolean({ description: 'False when the mark was already there or further: nothing was recorded' }),
        }),
        ...errorResponses(400, 401, 403, 404, 413, 415, 422, 429),
      },
    },
  }, async (request) => {
    const { session } = requireAuth(request);
    const { chatId } = request.params;
    refuseOutsider(chatId, session.userId);
    const r = await runCommand(metrics, 'markRead', () => markRead(deps.commands, { readerId: session.userId, chatId, upToRevision: request.body.revision }));
    return { chatId: r.chatId, upToRevision: r.upToRevision, changed: r.changed };
  });
};
