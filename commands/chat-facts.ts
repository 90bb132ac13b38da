/**
 * What a read receipt needs to know of its chat (participants, and whether a revision exists),
 * read WITHOUT the chat stream's lock and without writing to it: a receipt must never queue behind
 * the chat's sends, nor a send behind a receipt. The command cache's chat state answers when it
 * reaches far enough (the WebSocket gateway keeps it fed from the log); otherwise one one-event read
 * of the chat stream at the asked revision. Cached states are only looked at, never folded here (a
 * chat state is folded in place, under the chat's lock).
 */
import type { ChatState } from '../domain/chat.js';
import { chatIdFor } from '../domain/chat-id.js';
import { chatStreamId } from '../domain/events.js';
import type { ChatFacts } from '../domain/reads.js';
import { toDomainEvent } from './ports/codec.js';
import type { CommandBus } from './handle-command.js';

/** The two user ids of a well-formed chat id (the sorted pair, domain/chat-id.ts), else null. */
function pairOf(chatId: string): [string, string] | null {
  const parts = chatId.split(':');
  if (parts.length !== 2 || !parts[0] || !parts[1] || chatIdFor(parts[0], parts[1]) !== chatId) return null;
  return [parts[0], parts[1]];
}

/** The chat's facts, with `newestRevision` at least `wanted` when that revision exists; null for no chat. */
export async function chatFactsFor(bus: CommandBus, chatId: string, wanted: number): Promise<ChatFacts | null> {
  const streamId = chatStreamId(chatId);
  const cached = bus.cache.get<ChatState>(streamId);
  if (cached && cached.state.started && (cached.revision >= wanted || !Number.isSafeInteger(wanted))) {
    return { participants: cached.state.participants, newestRevision: cached.revision };
  }
  const at = Number.isSafeInteger(wanted) && wanted > 0 ? wanted : 0;
  const [there] = await bus.store.readStream(streamId, { fromRevision: at, maxCount: 1 });
  if (there) {
    if (at === 0) {
      const event = toDomainEvent(there);
      return event && event.type === 'ChatStarted' ? { participants: event.data.participants, newestRevision: 0 } : null;
    }
    // A chat stream holds events only after its ChatStarted, whose participants are the pair its id names.
    const pair = pairOf(chatId);
    return pair ? { participants: pair, newestRevision: at } : null;
  }
  if (cached && cached.state.started) return { participants: cached.state.participants, newestRevision: cached.revision };
  // The asked revision does not exist: the chat may still (revision 0), and the answer is then "ahead".
  if (at === 0) return null;
  const [first] = await bus.store.readStream(streamId, { fromRevision: 0, maxCount: 1 });
  const event = first ? toDomainEvent(first) : null;
  return event && event.type === 'ChatStarted' ? { participants: event.data.participants, newestRevision: 0 } : null;
}

/**
 * The chat's newest revision in the log, -1 when there is no such chat: what a history page must
 * reach to show every message answered so far. One one-event read, backwards, without the chat's
 * lock (a reader must not queue behind the chat's sends) and without opening any body.
 */
export async function chatHeadRevision(bus: CommandBus, chatId: string): Promise<number> {
  const [last] = await bus.store.readStream(chatStreamId(chatId), { direction: 'backwards', maxCount: 1, leaveSealed: true });
  return last?.revision ?? -1;
}
