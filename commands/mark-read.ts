import { domainError } from '../domain/errors.js';
import { readsStreamId } from '../domain/events.js';
import { readDecider } from '../domain/reads.js';
import { chatFactsFor } from './chat-facts.js';
import { fail, succeed, type CommandDeps, type CommandResult } from './deps.js';
import { handleCommand } from './handle-command.js';
import { readEventIdFor } from './read-id.js';

export interface ReadMarked {
  chatId: string;
  readerId: string;
  /** Where the reader's mark now stands (at least the revision asked for). */
  upToRevision: number;
  /** False when the mark was already there or further: nothing was appended. */
  changed: boolean;
}

/** Marks a chat read up to a revision for a participant; monotonic, idempotent (domain/reads.ts). */
export async function markRead(
  deps: CommandDeps,
  input: { readerId: string; chatId: string; upToRevision: number },
): Promise<CommandResult<ReadMarked>> {
  const { readerId, chatId, upToRevision } = input;
  const chat = await chatFactsFor(deps.bus, chatId, upToRevision);
  const outcome = await handleCommand(deps.bus, {
    streamId: readsStreamId(chatId, readerId),
    decider: readDecider,
    command: { type: 'MarkRead', chatId, readerId, upToRevision, chat, at: deps.clock().toISOString() },
    // Derived from what the event says: the same mark written twice by two processes meets the store's unique id.
    eventIds: (e) => readEventIdFor(e.data.chatId, e.data.readerId, e.data.upToRevision),
  });
  if (!outcome.ok) return fail(outcome.error);
  if (!chat) return fail(domainError('CHAT_NOT_FOUND'));
  return succeed({ chatId, readerId, upToRevision: outcome.state.upToRevision, changed: outcome.appended.length > 0 });
}
