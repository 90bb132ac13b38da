/**
 * TypeBox schemas shared by the routes. Request schemas refuse unknown properties, so a typo is a
 * VALIDATION_FAILED rather than silently ignored; response schemas also decide what is serialized,
 * so a field that should never leave (a hash, a token) cannot slip out by being on an object.
 */
import { Type, type TProperties, type TSchema } from 'typebox';
import { API_ERRORS } from './errors.js';

export const ErrorSchema = Type.Object({
  error: Type.Object({
    code: Type.Enum(Object.keys(API_ERRORS)),
    message: Type.String(),
    details: Type.Optional(Type.Unknown()),
  }),
}, { $id: 'ErrorBody', description: 'Every error: a stable code (see docs/errors.md) and a human message' });

/** The error responses every route can produce, for the OpenAPI document. */
export const errorResponses = (...statuses: number[]): Record<number, TSchema> =>
  Object.fromEntries(statuses.map((s) => [s, Type.Ref('ErrorBody')]));

export const Role = Type.Union([Type.Literal('user'), Type.Literal('auditor')]);

export const UserSchema = Type.Object({ userId: Type.String(), username: Type.String() });
export const MeUserSchema = Type.Object({ userId: Type.String(), username: Type.String(), role: Role });

export const MessageSchema = Type.Object({
  chatId: Type.String(),
  messageId: Type.String(),
  senderId: Type.String(),
  clientMessageId: Type.String(),
  body: Type.String(),
  sentAt: Type.String({ format: 'date-time' }),
  revision: Type.Integer(),
  editedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'When the sender last edited it; null: never edited, or deleted (a deleted message keeps nothing of its content, its edits included)' }),
  deleted: Type.Boolean({ description: 'Deleted for everyone: body is empty' }),
  erased: Type.Boolean({ description: 'The sender erased their account (docs/privacy.md): body is empty; show "message erased"' }),
});

export const LastMessageSchema = Type.Object({
  messageId: Type.String({ description: 'As in MessageEdited and MessageDeleted events: a live list updates the preview from them' }),
  senderId: Type.String(),
  body: Type.String(),
  sentAt: Type.String({ format: 'date-time' }),
  revision: Type.Integer(),
  edited: Type.Boolean({ description: 'The sender edited it: body is the edited text (false once deleted)' }),
  deleted: Type.Boolean({ description: 'Deleted for everyone: body is empty' }),
  erased: Type.Boolean({ description: 'The sender erased their account: body is empty' }),
});

export const ChatSchema = Type.Object({
  chatId: Type.String(),
  other: UserSchema,
  otherErased: Type.Boolean({ description: 'The other participant erased their account: the chat opens, but takes no new messages (PARTICIPANT_ERASED)' }),
  lastMessage: Type.Union([LastMessageSchema, Type.Null()]),
  updatedAt: Type.String({ format: 'date-time' }),
  unread: Type.Integer({ minimum: 0, description: "The other participant's messages after readUpTo" }),
  readUpTo: Type.Integer({ minimum: 0, description: 'The revision I have read the chat up to (0: nothing)' }),
  otherReadUpTo: Type.Integer({ minimum: 0, description: 'The revision the other participant has read up to: my messages at or below it are read' }),
});

/** Read positions by user id, for both participants of a chat (0: nothing read). */
export const ReadPositionsSchema = Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
  description: 'For each participant, the revision they have read the chat up to (0: nothing), from the event log',
});

export const Cursor = Type.String({ maxLength: 512, description: 'Opaque: the nextCursor of the previous page, unchanged, with the same filters' });
// `default` only documents: the TypeBox validator does not fill it in, the handlers do.
export const Limit = (max: number, dflt: number) => Type.Integer({ minimum: 1, maximum: max, default: dflt, description: `page size, default ${dflt}` });
/** The query of a paged list: the endpoint's own filters, then the page's size (see Limit) and cursor. */
export const PageQuery = <P extends TProperties>(filters: P, limit: { max: number; dflt: number }) =>
  Type.Object({ ...filters, limit: Type.Optional(Limit(limit.max, limit.dflt)), cursor: Type.Optional(Cursor) }, { additionalProperties: false });
export const ChatIdParams = Type.Object({ chatId: Type.String({ minLength: 1, maxLength: 200 }) });

/**
 * `erased` for a message as the read models hold it: a stored body is never empty (a send needs
 * visible text), so an empty body that was not deleted is an erased sender's (docs/privacy.md). Said
 * in a field of its own, as the socket's records say it, so a client need not know that rule.
 */
export const withErased = <T extends { body: string; deleted: boolean }>(m: T): T & { erased: boolean } => ({ ...m, erased: !m.deleted && m.body === '' });
