/**
 * A message's id, derived from what makes a send unique: the chat, the sender and the client's
 * idempotency key (a name-based UUID, version 5). The id doubles as the event id, so a resend that
 * the chat's de-duplication window no longer remembers (it holds the last 1,000) still meets the
 * store's unique event id and is answered with the first message instead of appending it twice.
 */
import { createHash } from 'node:crypto';

/** This project's UUID namespace for message ids (random, fixed forever: changing it changes every id). */
const NAMESPACE = Buffer.from('6f1c2b7e9a4d4c1f8e35b0d7a2c94e61', 'hex');

export function messageIdFor(chatId: string, senderId: string, clientMessageId: string): string {
  const hash = createHash('sha1').update(NAMESPACE).update(`${chatId}\u0000${senderId}\u0000${clientMessageId}`, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
