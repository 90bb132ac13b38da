/**
 * The WebSocket protocol: one JSON schema per frame (docs/websocket.md prints them), compiled
 * validators for what clients send, and the encoders of what the server sends. Frames are JSON text;
 * every frame has a `type`.
 */
import { readableSchemaMessage } from '../schema-message.js';
import { Type, type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { DOMAIN_ERRORS, type DomainErrorCode } from '../../domain/errors.js';
import { isStorableText } from '../../domain/text.js';
import type { PublicRecord } from '../../projections/ports/public-record.js';
import { MarkedFrame, ReadFrame, ReceiptFrame, UnreadFrame } from './read-frames.js';
import { DeleteFrame, EditFrame } from './change-frames.js';

/** Correlates a request frame with its answer; echoed unchanged. */
const Ref = Type.String({ minLength: 1, maxLength: 64, description: 'Chosen by the client; echoed in the answer' });
const ChatId = Type.String({ minLength: 1, maxLength: 200, description: 'The two user ids, sorted, joined by ":"' });

// ---- client → server ----

export const SendFrame = Type.Object({
  type: Type.Literal('send'),
  ref: Type.Optional(Ref),
  chatId: ChatId,
  // No length bound here: the frame size limit (WS_MAX_PAYLOAD_BYTES) bounds both, and a bound in the
  // schema would answer some over-long values VALIDATION_FAILED instead of the domain's precise code.
  body: Type.String({ description: '1-4000 characters after trimming (MESSAGE_EMPTY, MESSAGE_TOO_LONG); stored trimmed' }),
  clientMessageId: Type.String({
    description: 'Idempotency key, 1-64 of A-Z a-z 0-9 _ - (else CLIENT_MESSAGE_ID_INVALID): resending it returns the first result with duplicate: true',
  }),
}, { additionalProperties: false });

export const ResumeFrame = Type.Object({
  type: Type.Literal('resume'),
  ref: Type.Optional(Ref),
  chats: Type.Record(Type.String(), Type.Integer({ minimum: -1, maximum: 2_147_483_647 }), {
    maxProperties: 1000,
    propertyNames: { minLength: 1, maxLength: 200 },
    description: 'For each chat, the last revision the client has (-1: none, send from ChatStarted)',
  }),
}, { additionalProperties: false });

// Typing and presence are ephemeral: never stored, never in the log (docs/websocket.md, "Typing and presence").
export const TypingFrame = Type.Object({
  type: Type.Literal('typing'),
  ref: Type.Optional(Ref),
  chatId: ChatId,
}, { additionalProperties: false });

export const WatchFrame = Type.Object({
  type: Type.Literal('watch'),
  ref: Type.Optional(Ref),
  chats: Type.Array(ChatId, {
    maxItems: 1000,
    description: 'Chats whose other participant\'s presence this socket follows; replaces the previous list ([]: none)',
  }),
}, { additionalProperties: false });

export type SendFrame = Static<typeof SendFrame>;
export type ResumeFrame = Static<typeof ResumeFrame>;
export type TypingFrame = Static<typeof TypingFrame>;
export type WatchFrame = Static<typeof WatchFrame>;
export type ClientFrame = SendFrame | ResumeFrame | TypingFrame | WatchFrame | ReadFrame | EditFrame | DeleteFrame;

// ---- server → client ----

export const PublicRecordSchema = Type.Object({
  id: Type.String(),
  streamId: Type.String(),
  revision: Type.Integer({ minimum: 0 }),
  position: Type.String({ pattern: '^[0-9]+$', description: 'Global log position, decimal string' }),
  type: Type.String(),
  version: Type.Integer(),
  data: Type.Record(Type.String(), Type.Unknown(), { description: 'The event payload (public form: secrets removed)' }),
  createdAt: Type.String(),
}, { additionalProperties: false });

export const EventFrame = Type.Object({
  type: Type.Literal('event'),
  chatId: ChatId,
  revision: Type.Integer({ minimum: 0 }),
  record: PublicRecordSchema,
}, { additionalProperties: false });

export const AckFrame = Type.Object({
  type: Type.Literal('ack'),
  ref: Type.Optional(Ref),
  chatId: ChatId,
  messageId: Type.String(),
  revision: Type.Integer({ minimum: 1 }),
  position: Type.String({ pattern: '^[0-9]+$' }),
  duplicate: Type.Boolean(),
}, { additionalProperties: false });

export const ErrorFrame = Type.Object({
  type: Type.Literal('error'),
  ref: Type.Optional(Ref),
  /** The chat the answered frame named (send, edit, delete, read, typing), or the one chat of a resume or watch the error concerns. */
  chatId: Type.Optional(Type.String()),
  code: Type.String(),
  message: Type.String(),
}, { additionalProperties: false });

export const ResumedFrame = Type.Object({
  type: Type.Literal('resumed'),
  ref: Type.Optional(Ref),
  chats: Type.Record(Type.String(), Type.Integer({ minimum: -1 }), { description: 'Last revision now delivered, per resumed chat' }),
}, { additionalProperties: false });

export const IsTypingFrame = Type.Object({
  type: Type.Literal('is_typing'),
  chatId: ChatId,
  userId: Type.String({ description: 'Who is typing: the other participant' }),
}, { additionalProperties: false });

const UserPresence = Type.Object({
  online: Type.Boolean(),
  lastSeen: Type.Union([Type.String(), Type.Null()], { description: 'ISO-8601 time the user\'s last socket closed; null when not known' }),
}, { additionalProperties: false });

export const PresenceFrame = Type.Object({
  type: Type.Literal('presence'),
  ref: Type.Optional(Ref),
  available: Type.Boolean({ description: 'false: presence cannot be known now (Redis is down); users is then empty' }),
  users: Type.Record(Type.String(), UserPresence, { description: 'By user id: the answer to a watch names every watched user; a change names one' }),
}, { additionalProperties: false });

export const ParticipantErasedFrame = Type.Object({
  type: Type.Literal('participant_erased'),
  chatId: ChatId,
  userId: Type.String({ description: 'The other participant, who erased their account: the chat takes no new messages (a send gets PARTICIPANT_ERASED)' }),
}, { additionalProperties: false });

export type EventFrame = Static<typeof EventFrame>;
export type ParticipantErasedFrame = Static<typeof ParticipantErasedFrame>;
export type AckFrame = Static<typeof AckFrame>;
export type ErrorFrame = Static<typeof ErrorFrame>;
export type ResumedFrame = Static<typeof ResumedFrame>;
export type IsTypingFrame = Static<typeof IsTypingFrame>;
export type PresenceFrame = Static<typeof PresenceFrame>;
export type ServerFrame = EventFrame | AckFrame | ErrorFrame | ResumedFrame | IsTypingFrame | PresenceFrame | MarkedFrame | ReceiptFrame | UnreadFrame | ParticipantErasedFrame;

/** Every schema, by frame name: docs/websocket.md and the tests read them from here. */
export const FRAME_SCHEMAS: Record<string, TSchema> = {
  send: SendFrame, resume: ResumeFrame, event: EventFrame, ack: AckFrame, error: ErrorFrame, resumed: ResumedFrame,
  typing: TypingFrame, watch: WatchFrame, is_typing: IsTypingFrame, presence: PresenceFrame,
  read: ReadFrame, marked: MarkedFrame, receipt: ReceiptFrame, unread: UnreadFrame,
  edit: EditFrame, delete: DeleteFrame, participant_erased: ParticipantErasedFrame,
};

// ---- errors ----

/** Codes only the gateway produces; the names match the HTTP API's (docs/errors.md). */
export const WS_ERRORS = {
  BAD_REQUEST: 'The frame could not be parsed: send JSON text frames.',
  VALIDATION_FAILED: 'The frame does not match the schema of its type.',
  RATE_LIMITED: 'Too many frames; slow down.',
  CONCURRENCY_CONFLICT: 'The data kept changing under the request; it is safe to retry.',
  SERVICE_UNAVAILABLE: 'A backing service is unavailable; try again shortly.',
  INTERNAL: 'Something went wrong on our side; it has been logged.',
  TYPING_RATE_LIMITED: 'Too many typing notices from this socket; this one was dropped.',
} as const;

export type WsErrorCode = DomainErrorCode | keyof typeof WS_ERRORS;

export function errorMessage(code: WsErrorCode): string {
  return code in WS_ERRORS ? WS_ERRORS[code as keyof typeof WS_ERRORS] : DOMAIN_ERRORS[code as DomainErrorCode];
}

// ---- parsing ----

const checkSend = Compile(SendFrame);
const checkResume = Compile(ResumeFrame);
const checkTyping = Compile(TypingFrame);
const checkWatch = Compile(WatchFrame);
const checkRead = Compile(ReadFrame);
const checkEdit = Compile(EditFrame);
const checkDelete = Compile(DeleteFrame);

export type ParseResult =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: 'BAD_REQUEST' | 'VALIDATION_FAILED'; detail: string; ref?: string; chatId?: string };

/** A ref worth echoing even on an invalid frame, so the client can match the error to its request. */
function refOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const ref = (value as Record<string, unknown>)['ref'];
  return typeof ref === 'string' && ref.length >= 1 && ref.length <= 64 ? ref : undefined;
}

/** Frames about one chat: their errors carry its `chatId`. */
type OneChatFrame = SendFrame | TypingFrame | ReadFrame | EditFrame | DeleteFrame;
const ONE_CHAT_TYPES: ReadonlySet<unknown> = new Set<OneChatFrame['type']>(['send', 'typing', 'read', 'edit', 'delete']);
const namesOneChat = (f: ClientFrame): f is OneChatFrame => ONE_CHAT_TYPES.has(f.type);

/**
 * The chat an invalid frame of a one-chat type named, worth echoing when it is itself well-formed (as
 * the schema has it, and storable), so that a client can match the error to its chat; otherwise none.
 * Never for a `resume` or `watch`: an error with a chatId there is about one chat of many, and the
 * client would wait for the `resumed` or `presence` that an invalid frame does not get.
 */
function chatIdOf(value: unknown, type: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || !ONE_CHAT_TYPES.has(type)) return undefined;
  const chatId = (value as Record<string, unknown>)['chatId'];
  return typeof chatId === 'string' && chatId.length >= 1 && chatId.length <= 200 && isStorableText(chatId) ? chatId : undefined;
}

export function parseClientFrame(text: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: 'BAD_REQUEST', detail: 'not JSON' };
  }
  const ref = refOf(value);
  const type = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)['type'] : undefined;
  const chatId = chatIdOf(value, type);
  const echoing = <T extends object>(r: T): T => ({ ...r, ...(ref === undefined ? {} : { ref }), ...(chatId === undefined ? {} : { chatId }) });
  // Dispatch on type first: a union's errors would list every alternative's complaints.
  const validator = type === 'send' ? checkSend : type === 'resume' ? checkResume : type === 'typing' ? checkTyping : type === 'watch' ? checkWatch : type === 'read' ? checkRead
    : type === 'edit' ? checkEdit : type === 'delete' ? checkDelete : null;
  if (!validator) return echoing({ ok: false, code: 'VALIDATION_FAILED', detail: 'type must be "send", "resume", "typing", "watch", "read", "edit" or "delete"' });
  if (validator.Check(value)) {
    const frame = value as ClientFrame;
    // A chat id names a stream: one holding U+0000 or an unpaired surrogate could not even be looked
    // up in PostgreSQL. The body is the domain's to judge (MESSAGE_INVALID_CHARACTERS).
    const one = namesOneChat(frame);
    const chatIds = one ? [frame.chatId] : frame.type === 'watch' ? frame.chats : Object.keys(frame.chats);
    if (!chatIds.every(isStorableText)) {
      const where = one ? 'chatId' : frame.type === 'watch' ? 'a chats item' : 'a chats key';
      return echoing({ ok: false, code: 'VALIDATION_FAILED', detail: `${where} must not contain U+0000 or unpaired surrogates` });
    }
    return { ok: true, frame };
  }
  const first = validator.Errors(value)[0];
  // The rule and where, never the offending value (it may be huge or hostile); a path can hold a
  // client's key, so it is cut short.
  const where = first ? first.instancePath || '/' : '/';
  const detail = first ? `${readableSchemaMessage(first.message)} at ${where.length > 60 ? `${where.slice(0, 60)}…` : where}` : 'invalid frame';
  return echoing({ ok: false, code: 'VALIDATION_FAILED', detail });
}

export { otherParticipant, participantsOf } from '../../domain/chat-id.js';

// ---- encoding (hand-built where hot: one string per event, shared by every recipient) ----

export function encodeEvent(chatId: string, record: PublicRecord): string {
  return `{"type":"event","chatId":${JSON.stringify(chatId)},"revision":${record.revision},"record":${JSON.stringify(record)}}`;
}

export const encodeParticipantErased = (f: Omit<ParticipantErasedFrame, 'type'>): string => JSON.stringify({ type: 'participant_erased', ...f });

export function encodeAck(ack: Omit<AckFrame, 'type'>): string {
  return JSON.stringify({ type: 'ack', ...ack });
}

export function encodeError(code: WsErrorCode, opts: { ref?: string | undefined; chatId?: string | undefined; detail?: string } = {}): string {
  const frame: ErrorFrame = { type: 'error', code, message: opts.detail ? `${errorMessage(code)} (${opts.detail})` : errorMessage(code) };
  if (opts.ref !== undefined) frame.ref = opts.ref;
  if (opts.chatId !== undefined) frame.chatId = opts.chatId;
  return JSON.stringify(frame);
}

export function encodeResumed(ref: string | undefined, chats: Record<string, number>): string {
  return JSON.stringify(ref === undefined ? { type: 'resumed', chats } : { type: 'resumed', ref, chats });
}

export function encodeIsTyping(chatId: string, userId: string): string {
  return `{"type":"is_typing","chatId":${JSON.stringify(chatId)},"userId":${JSON.stringify(userId)}}`;
}

export function encodePresence(ref: string | undefined, available: boolean, users: PresenceFrame['users']): string {
  return JSON.stringify(ref === undefined ? { type: 'presence', available, users } : { type: 'presence', ref, available, users });
}
