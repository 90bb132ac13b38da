/**
 * Messages: send (idempotent per clientMessageId: a repeat returns the first message with 200) and
 * history (see ../history.ts). Only the two participants may read or write a chat.
 */
import { Type } from 'typebox';
import { chatHeadRevision } from '../../../commands/chat-facts.js';
import { readPositionsOf } from '../../../commands/read-positions.js';
import { sendMessage } from '../../../commands/send-message.js';
import { MAX_REVISION } from '../../../projections/messages.js';
import { refuseOutsider } from '../chat-access.js';
import type { RoutePlugin } from '../context.js';
import { ApiError } from '../errors.js';
import { readHistory } from '../history.js';
import { requireAuth } from '../plugins/auth.js';
import { runCommand } from '../run-command.js';
import { ChatIdParams, Limit, MessageSchema, ReadPositionsSchema, errorResponses, withErased } from '../schemas.js';

const Accepted = Type.Object({
  chatId: Type.String(),
  messageId: Type.String(),
  revision: Type.Integer(),
  position: Type.String({ description: 'Global log position (decimal string)' }),
  duplicate: Type.Boolean({ description: 'True when this clientMessageId was already sent: nothing new was stored' }),
});

export const messageRoutes: RoutePlugin = async (app, ctx) => {
  const { deps, config, metrics } = ctx;

  app.post('/api/chats/:chatId/messages', {
    config: { auth: true },
    schema: {
      tags: ['messages'],
      summary: 'Send a message; 201 when stored, 200 with the original when the clientMessageId was seen before; 410 PARTICIPANT_ERASED when the other participant erased their account',
      params: ChatIdParams,
      // No maxLength: the body limit (64 KiB) bounds both, and a schema bound would answer some
      // over-long values VALIDATION_FAILED instead of the domain's MESSAGE_TOO_LONG / CLIENT_MESSAGE_ID_INVALID.
      body: Type.Object({
        body: Type.String({ description: '1-4000 characters after trimming (MESSAGE_EMPTY, MESSAGE_TOO_LONG); stored trimmed' }),
        clientMessageId: Type.String({ description: 'Client-chosen id, 1-64 of A-Z a-z 0-9 _ - (else CLIENT_MESSAGE_ID_INVALID); makes retries safe' }),
      }, { additionalProperties: false }),
      response: { 200: Accepted, 201: Accepted, ...errorResponses(400, 401, 403, 404, 410, 413, 415, 422, 429) },
    },
  }, async (request, reply) => {
    const { session } = requireAuth(request);
    const { chatId } = request.params;
    refuseOutsider(chatId, session.userId);
    const sent = await runCommand(metrics, 'sendMessage', () =>
      sendMessage(deps.commands, { senderId: session.userId, chatId, body: request.body.body, clientMessageId: request.body.clientMessageId }));
    deps.replicaReads?.wrote(session.userId, sent.chatId, sent.revision);
    return reply.status(sent.duplicate ? 200 : 201).send({
      chatId: sent.chatId, messageId: sent.messageId, revision: sent.revision, position: sent.position.toString(), duplicate: sent.duplicate,
    });
  });

  app.get('/api/chats/:chatId/messages', {
    config: { auth: true },
    schema: {
      tags: ['messages'],
      summary: 'History, newest first, paged backwards: pass nextBefore as before',
      description: 'X-History-Source says whether the page came from the cache or the database; the body is the same either way.',
      params: ChatIdParams,
      querystring: Type.Object({
        before: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_REVISION, description: 'Only messages with a revision below this' })),
        limit: Type.Optional(Limit(100, 50)),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({ messages: Type.Array(MessageSchema), nextBefore: Type.Union([Type.Integer(), Type.Null()]), reads: ReadPositionsSchema }),
        ...errorResponses(400, 401, 403, 404),
      },
    },
  }, async (request, reply) => {
    const { session } = requireAuth(request);
    const { chatId } = request.params;
    const { before, limit } = request.query;
    refuseOutsider(chatId, session.userId);
    // The newest page shows the chat as the log holds it now (a send acknowledged just before is on
    // it): its newest revision, which the view must have applied.
    const head = before === undefined ? await chatHeadRevision(deps.commands.bus, chatId) : null;
    if (head === -1) throw new ApiError('CHAT_NOT_FOUND');
    const page = await readHistory({
      view: deps.lastMessages, reads: deps.reads, chatId, limit: limit ?? 50, cacheTimeoutMs: config.cacheTimeoutMs, freshWaitMs: config.historyFreshWaitMs,
      replica: deps.replicaReads ? { reads: deps.replicaReads, userId: session.userId } : null,
      ...(before !== undefined ? { before } : {}),
      ...(head !== null ? { atLeast: head } : {}),
    });
    // An empty older page may mean the chat does not exist at all: only then ask the event store.
    if (page.messages.length === 0 && before !== undefined && (await chatHeadRevision(deps.commands.bus, chatId)) === -1) throw new ApiError('CHAT_NOT_FOUND');
    void reply.header('x-history-source', page.source);
    // Read after the page: a position is never behind the messages it covers on the page.
    const reads = await readPositionsOf(deps.commands.bus, chatId);
    return { messages: page.messages.map(withErased), nextBefore: page.nextBefore, reads };
  });
};
