/**
 * The event id of a read receipt: a name-based UUID (version 5) of (chat, reader, revision), like
 * message ids (message-id.ts), under a namespace of its own.
 */
import { createHash } from 'node:crypto';

const NAMESPACE = Buffer.from('a4e0c9d25b7f4e8a9c31d6f08b2e7a53', 'hex');

export function readEventIdFor(chatId: string, readerId: string, upToRevision: number): string {
  const hash = createHash('sha1').update(NAMESPACE).update(`${chatId}\u0000${readerId}\u0000${upToRevision}`, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
