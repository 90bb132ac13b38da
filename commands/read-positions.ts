/**
 * Both participants' read positions of a chat, from their reads streams (the write side's own
 * state, current as of the read): what history and a WebSocket resume hand a client, so a sender
 * sees "read" after a reload or reconnect without waiting for a projection. Takes only the reads
 * streams' locks, never the chat's.
 */
import { readsStreamId } from '../domain/events.js';
import { readDecider } from '../domain/reads.js';
import { loadState, type CommandBus } from './handle-command.js';

/** By user id; 0 for a participant who has read nothing. Empty for a chat id that is not a pair. */
export async function readPositionsOf(bus: CommandBus, chatId: string): Promise<Record<string, number>> {
  const parts = chatId.split(':');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return {};
  const positions = await Promise.all(parts.map(async (userId) => (await loadState(bus, readsStreamId(chatId, userId), readDecider)).state.upToRevision));
  // Keys in the chat id's order, not in the order the reads finished: the same answer serializes the same.
  return Object.fromEntries(parts.map((userId, i) => [userId, positions[i] ?? 0]));
}
