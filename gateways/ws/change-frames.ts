/**
 * Editing and deleting a message over the socket (docs/websocket.md, "Editing and deleting"): `edit`
 * and `delete` from a client, answered with an `ack` (as a `send` is) once the socket has the
 * MessageEdited / MessageDeleted event, which every socket of both participants receives as an
 * `event` frame and applies to the message in place. protocol.ts lists the frames with the others.
 */
import { Type, type Static } from 'typebox';
import { deleteMessage, editMessage } from '../../commands/edit-message.js';
import { otherParticipant } from '../../domain/chat-id.js';
import type { CommandDeps } from '../../commands/deps.js';
import type { Logger } from 'pino';
import type { WsConfig } from './config.js';
import type { Conn, Outbox } from './connection.js';
import type { Delivery } from './delivery.js';
import { errText } from './err-text.js';

const Ref = Type.String({ minLength: 1, maxLength: 64, description: 'Chosen by the client; echoed in the answer' });
const ChatId = Type.String({ minLength: 1, maxLength: 200, description: 'The two user ids, sorted, joined by ":"' });
const MessageId = Type.String({ minLength: 1, maxLength: 64, description: 'The message, as in its MessageSent event (else MESSAGE_NOT_FOUND)' });

export const EditFrame = Type.Object({
  type: Type.Literal('edit'),
  ref: Type.Optional(Ref),
  chatId: ChatId,
  messageId: MessageId,
  // Unbounded here for the reason SendFrame's body is (protocol.ts): the domain's codes are the precise answer.
  body: Type.String({ description: 'The new text: the rules of send (MESSAGE_EMPTY, MESSAGE_TOO_LONG, MESSAGE_INVALID_CHARACTERS)' }),
  clientEditId: Type.String({
    description: 'Idempotency key, 1-64 of A-Z a-z 0-9 _ - (else CLIENT_MESSAGE_ID_INVALID): resending it returns the first result with duplicate: true',
  }),
}, { additionalProperties: false });

export const DeleteFrame = Type.Object({
  type: Type.Literal('delete'),
  ref: Type.Optional(Ref),
  chatId: ChatId,
  messageId: MessageId,
  clientDeleteId: Type.String({
    description: 'Idempotency key, 1-64 of A-Z a-z 0-9 _ - (else CLIENT_MESSAGE_ID_INVALID): resending it returns the first result with duplicate: true',
  }),
}, { additionalProperties: false });

export type EditFrame = Static<typeof EditFrame>;
export type DeleteFrame = Static<typeof DeleteFrame>;
export type ChangeFrame = EditFrame | DeleteFrame;

export interface ChangeHandlerDeps {
  config: WsConfig;
  commands: CommandDeps;
  outbox: Outbox;
  delivery: Delivery;
  logger: Logger;
  /** From client-frames.ts: the ack and error encoders, and what an exception means. */
  encodeAck: (ack: { ref?: string | undefined; chatId: string; messageId: string; revision: number; position: string; duplicate: boolean }) => string;
  encodeError: (code: string, opts: { ref?: string | undefined; chatId?: string; detail?: string }) => string;
  errorCodeOf: (err: unknown) => string;
}

export function createChangeHandler(d: ChangeHandlerDeps): (conn: Conn, f: ChangeFrame) => Promise<void> {
  const reply = (conn: Conn, frame: string): void => d.outbox.send(conn, frame);
  return async (conn, f) => {
    const member = otherParticipant(f.chatId, conn.userId);
    if ('refused' in member) return reply(conn, d.encodeError(member.refused, { ref: f.ref, chatId: f.chatId }));
    // Counted with sends: an ack waiting for its event is work in flight either way.
    if (conn.inFlight >= d.config.maxInFlightSends) {
      return reply(conn, d.encodeError('RATE_LIMITED', { ref: f.ref, chatId: f.chatId, detail: 'too many requests awaiting their ack' }));
    }
    conn.inFlight++;
    let ackHeld = false;
    try {
      const r = f.type === 'edit'
        ? await editMessage(d.commands, { editorId: conn.userId, chatId: f.chatId, messageId: f.messageId, clientEditId: f.clientEditId, body: f.body })
        : await deleteMessage(d.commands, { deleterId: conn.userId, chatId: f.chatId, messageId: f.messageId, clientDeleteId: f.clientDeleteId });
      if (!r.ok) return reply(conn, d.encodeError(r.error.code, { ref: f.ref, chatId: f.chatId }));
      const v = r.value;
      const ack = d.encodeAck({ ref: f.ref, chatId: v.chatId, messageId: v.messageId, revision: v.revision, position: v.position.toString(), duplicate: v.duplicate });
      ackHeld = true;
      d.delivery.ack(conn, v.chatId, v.revision, v.duplicate, ack, () => { conn.inFlight--; });
    } catch (err) {
      const code = d.errorCodeOf(err);
      // Never the body: user content stays out of logs.
      d.logger[code === 'INTERNAL' ? 'error' : 'warn']({ err: errText(err), code, chatId: f.chatId, userId: conn.userId }, `ws ${f.type} failed`);
      reply(conn, d.encodeError(code, { ref: f.ref, chatId: f.chatId }));
    } finally {
      if (!ackHeld) conn.inFlight--;
    }
  };
}
