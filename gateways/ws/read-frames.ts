/**
 * The frames of read receipts (docs/websocket.md, "Read receipts and unread counts"): `read` from a
 * client, `marked` answering it, `receipt` and `unread` from the gateway. protocol.ts lists them
 * with the other frames.
 */
import { Type, type Static } from 'typebox';

const Ref = (description: string) => Type.String({ minLength: 1, maxLength: 64, description });
const ChatId = Type.String({ minLength: 1, maxLength: 200, description: 'The two user ids, sorted, joined by ":"' });
const Revision = Type.Integer({ minimum: 0, maximum: 2_147_483_647 });

// ---- client → server ----

export const ReadFrame = Type.Object({
  type: Type.Literal('read'),
  ref: Type.Optional(Ref('Chosen by the client; echoed in marked. Without it the read is a notification: no marked when accepted')),
  chatId: ChatId,
  revision: Type.Integer({
    minimum: 0, maximum: 2_147_483_647,
    description: "Mark the chat read up to and including this revision; at most the chat's newest (else READ_REVISION_AHEAD). At or below the mark: nothing changes (changed: false)",
  }),
}, { additionalProperties: false });

// ---- server → client ----

export const MarkedFrame = Type.Object({
  type: Type.Literal('marked'),
  ref: Ref("The read frame's ref: a read without one is not answered when accepted"),
  chatId: ChatId,
  upToRevision: Type.Integer({ minimum: 0, description: 'Where the mark now stands: the revision sent, or a later one already marked' }),
  changed: Type.Boolean({ description: 'False when the mark was already there or further: nothing was recorded' }),
}, { additionalProperties: false });

export const ReceiptFrame = Type.Object({
  type: Type.Literal('receipt'),
  chatId: ChatId,
  userId: Type.String({ description: 'Who read: either participant (a receipt of my own comes from another of my sockets, or this one)' }),
  upToRevision: Revision,
  at: Type.Optional(Type.String({ description: 'When it was marked (ISO-8601); absent on the receipts a resume sends' })),
}, { additionalProperties: false });

export const UnreadFrame = Type.Object({
  type: Type.Literal('unread'),
  chatId: ChatId,
  count: Type.Integer({ minimum: 0, description: "The other participant's messages after my read position, up to `through`" }),
  through: Type.Integer({ minimum: 0, description: 'The chat revision the count was taken at: messages after it are not in it' }),
}, { additionalProperties: false });

export type ReadFrame = Static<typeof ReadFrame>;
export type MarkedFrame = Static<typeof MarkedFrame>;
export type ReceiptFrame = Static<typeof ReceiptFrame>;
export type UnreadFrame = Static<typeof UnreadFrame>;

export const encodeMarked = (f: Omit<MarkedFrame, 'type'>): string => JSON.stringify({ type: 'marked', ...f });
export const encodeReceipt = (f: Omit<ReceiptFrame, 'type'>): string => JSON.stringify({ type: 'receipt', ...f });
export const encodeUnread = (f: Omit<UnreadFrame, 'type'>): string => JSON.stringify({ type: 'unread', ...f });
