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
  return async (conn, chatId) => {
    // A socket that has been sent any of the chat's events knows it exists, and so do we.
    if (known.has(chatId) || (conn.cursor(chatId)?.delivered ?? -1) >= 0) return true;
    const first = await store.readStream(`chat-${chatId}`, { maxCount: 1 });
    if (first.length === 0) return false;
    if (known.size >= REMEMBERED) known = new Set();
    known.add(chatId);
    return true;
  };
}
