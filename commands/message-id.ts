/**
 * A message's id, derived from what makes a send unique: the chat, the sender and the client's
 * idempotency key (a name-based UUID, version 5). The id doubles as the event id, so a resend that
 * the chat's de-duplication window no longer remembers (it holds the last 1,000) still meets the
 * store's unique event id and is answered with the first message instead of appending it twice.
 */
import { v5 as uuidv5 } from 'uuid';

/** This project's UUID namespace for message ids (random, fixed forever: changing it changes every id). */
const NAMESPACE = '6f1c2b7e-9a4d-4c1f-8e35-b0d7a2c94e61';

export function messageIdFor(chatId: string, senderId: string, clientMessageId: string): string {
  // The name goes in as UTF-8 bytes: given a string, uuid encodes it with encodeURIComponent, which
  // throws on a lone surrogate, where Buffer writes U+FFFD as the ids stored so far were derived.
  return uuidv5(Buffer.from(`${chatId}\u0000${senderId}\u0000${clientMessageId}`, 'utf8'), NAMESPACE);
}
