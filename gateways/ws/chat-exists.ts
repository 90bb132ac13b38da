/**
 * Whether a chat exists, for typing and presence: both are for people who share a chat, and a chat
 * id only says who *would* share it. A chat never stops existing, so a yes is remembered (bounded);
 * a no is asked again next time (the chat may have started since).
 */
import type { EventStore } from '../../commands/ports/event-store.js';
import type { Conn } from './connection.js';

const REMEMBERED = 100_000;

export type ChatExists = (conn: Conn, chatId: string) => Promise<boolean>;

export function chatExistence(store: EventStore): ChatExists {
  let known = new Set<string>();
  return async (_conn, chatId) => {
    // Not the socket's cursor: a resume sets it to the revision the client claims, so a claim of 0
    // on `me:anyone` would pass for a shared chat and open anyone's presence and typing to it.
    if (known.has(chatId)) return true;
    const first = await store.readStream(`chat-${chatId}`, { maxCount: 1 });
    if (first.length === 0) return false;
    if (known.size >= REMEMBERED) known = new Set();
    known.add(chatId);
    return true;
  };
}
