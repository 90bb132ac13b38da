/**
 * The HTTP read port over the SQL read models (MikroORM on PostgreSQL or SQLite): maps the query
 * modules' rows to the API's shapes, and their InvalidQueryError (a bad cursor, say) to a 400.
 */
import { queryActivity } from '../../projections/activity-log.js';
import { unreadTotal, userChats } from '../../projections/chats.js';
import { queryErrors } from '../../infra/read-models/queries/errors.js';
import { chatHistory } from '../../projections/messages.js';
import { InvalidQueryError } from '../../projections/ports/page.js';
import { searchUsers } from '../../projections/users.js';
import type { ReadModelOrm } from '../../infra/read-models/orm.js';
import { ApiError } from '../http/errors.js';
import type { HttpReadModels } from '../http/read-port.js';

async function refusingBadQueries<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof InvalidQueryError) {
      throw new ApiError('VALIDATION_FAILED', undefined, [{ in: 'querystring', path: err.field ? `/${err.field}` : '/', message: err.message }]);
    }
    throw err;
  }
}

export function sqlReadModels(orm: ReadModelOrm): HttpReadModels {
  return {
    searchUsers: (q) => refusingBadQueries(async () => {
      const page = await searchUsers(orm.db, q);
      return { items: page.items.map((u) => ({ userId: u.userId, username: u.username })), nextCursor: page.nextCursor };
    }),

    chatsOf: (q) => refusingBadQueries(async () => {
      const page = await userChats(orm.db, q);
      return {
        items: page.items.map((c) => ({
          chatId: c.chatId,
          // The username is the user id (domain/username.ts); the read model may not have the user row yet.
          other: { userId: c.otherUserId, username: c.otherUsername ?? c.otherUserId },
          otherErased: c.otherErased,
          lastMessage: c.lastMessage && {
            messageId: c.lastMessage.messageId, senderId: c.lastMessage.senderId, body: c.lastMessage.body, sentAt: c.lastMessage.at.toISOString(), revision: c.lastMessage.revision,
            edited: c.lastMessage.edited, deleted: c.lastMessage.deleted,
          },
          updatedAt: c.activityAt.toISOString(),
          unread: c.unread,
          readUpTo: c.readUpTo,
          otherReadUpTo: c.otherReadUpTo,
        })),
        nextCursor: page.nextCursor,
      };
    }),

    unreadTotal: (userId) => unreadTotal(orm.db, userId),

    history: (q) => refusingBadQueries(async () => {
      const page = await chatHistory(orm.db, q);
      return page.items.map((m) => ({
        chatId: m.chatId, messageId: m.messageId, senderId: m.senderId, clientMessageId: m.clientMessageId,
        body: m.body, sentAt: m.sentAt.toISOString(), revision: m.revision, editedAt: m.editedAt?.toISOString() ?? null, deleted: m.deleted,
      }));
    }),

    activity: (q) => refusingBadQueries(async () => {
      const page = await queryActivity(orm.db, q);
      return {
        items: page.items.map((a) => ({ userId: a.userId, action: a.action, chatId: a.target, at: a.at.toISOString() })),
        nextCursor: page.nextCursor,
      };
    }),

    errors: (q) => refusingBadQueries(async () => {
      const page = await queryErrors(orm, q);
      return {
        // The stack stays in the database: a trace names files and lines, which an audit screen does not need.
        items: page.items.map((e) => ({ at: e.at.toISOString(), level: e.level, process: e.process, message: e.message, context: e.context })),
        nextCursor: page.nextCursor,
      };
    }),
  };
}
