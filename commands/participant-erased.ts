/**
 * Whether a chat's other participant has erased their account, for the commands that must know
 * (sending refuses, opening tells). A process whose cache follows the log (every gateway) answers from
 * the cached user state, which UserErased reaches like any event: a store read only the first time.
 * A command decided just before the erasure reaches this process may still go through (different
 * streams, no shared revision); privacy.md says so.
 */
import { otherParticipant } from '../domain/chat.js';
import { userStreamId } from '../domain/events.js';
import { isErased, userDecider, type UserState } from '../domain/user.js';
import { loadState, type CommandBus } from './handle-command.js';

export async function otherParticipantErased(bus: CommandBus, participants: readonly [string, string], userId: string): Promise<boolean> {
  const streamId = userStreamId(otherParticipant(participants, userId));
  const cached = bus.cacheFollowsLog ? bus.cache.get<UserState>(streamId) : undefined;
  return isErased(cached && cached.revision >= 0 ? cached.state : (await loadState(bus, streamId, userDecider)).state);
}
