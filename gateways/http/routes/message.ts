/**
 * One message: edit its body (PATCH) or delete it for everyone (DELETE), by its sender only. Both are
 * idempotent per client id (clientEditId, clientDeleteId): a repeat answers 200 with the first result.
 */
import { Type } from 'typebox';
import { deleteMessage, editMessage, type MessageChanged } from '../../../commands/edit-message.js';
import { refuseOutsider } from '../chat-access.js';
import type { RoutePlugin } from '../context.js';
import { requireAuth } from '../plugins/auth.js';
import { runCommand } from '../run-command.js';
import { errorResponses } from '../schemas.js';

const MessageParams = Type.Object({
  chatId: Type.String({ minLength: 1, maxLength: 200 }),
  messageId: Type.String({ minLength: 1, maxLength: 64 }),
});

const Changed = Type.Object({
  chatId: Type.String(),
  messageId: Type.String(),
  revision: Type.Integer({ description: 'Revision of the MessageEdited / MessageDeleted event in the chat' }),
  position: Type.String({ description: 'Global log position (decimal string)' }),
  duplicate: Type.Boolean({ description: 'True when this client id was already used: nothing new was stored' }),
});

const ClientId = (name: string) =>
  Type.String({ description: `Client-chosen id, 1-64 of A-Z a-z 0-9 _ - (else CLIENT_MESSAGE_ID_INVALID); a repeat returns the first result (${name})` });

const answer = (c: MessageChanged) => ({ chatId: c.chatId, messageId: c.messageId, revision: c.revision, position: c.position.toString(), duplicate: c.duplicate });

export const messageChangeRoutes: RoutePlugin = async (app, ctx) => {
  const { deps, metrics } = ctx;

  app.patch('/api/chats/:chatId/messages/:messageId', {
    config: { auth: true },
    schema: {
      tags: ['messages'],
      summary: 'Edit my message: 200 when edited (or the clientEditId was seen before); only within CHAT_MESSAGE_EDIT_WINDOW_SECONDS of sending',
      params: MessageParams,
      body: Type.Object({
        body: Type.String({ description: 'The new text, 1-4000 characters after trimming (MESSAGE_EMPTY, MESSAGE_TOO_LONG); stored trimmed' }),
        clientEditId: ClientId('clientEditId'),
      }, { additionalProperties: false }),
      response: { 200: Changed, ...errorResponses(400, 401, 403, 404, 409, 410, 413, 415, 422, 429) },
    },
  }, async (request) => {
    const { session } = requireAuth(request);
    const { chatId, messageId } = request.params;
    refuseOutsider(chatId, session.userId);
    return answer(await runCommand(metrics, 'editMessage', () =>
      editMessage(deps.commands, { editorId: session.userId, chatId, messageId, clientEditId: request.body.clientEditId, body: request.body.body })));
  });

  app.delete('/api/chats/:chatId/messages/:messageId', {
    config: { auth: true },
    schema: {
      tags: ['messages'],
      summary: 'Delete my message for everyone: its body leaves every read model; 200 when deleted (or the clientDeleteId was seen before)',
      params: MessageParams,
      querystring: Type.Object({ clientDeleteId: ClientId('clientDeleteId') }, { additionalProperties: false }),
      response: { 200: Changed, ...errorResponses(400, 401, 403, 404, 409, 410, 422, 429) },
    },
  }, async (request) => {
    const { session } = requireAuth(request);
    const { chatId, messageId } = request.params;
    refuseOutsider(chatId, session.userId);
    return answer(await runCommand(metrics, 'deleteMessage', () =>
      deleteMessage(deps.commands, { deleterId: session.userId, chatId, messageId, clientDeleteId: request.query.clientDeleteId })));
  });
};
