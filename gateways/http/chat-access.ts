/**
 * Chat routes refuse an outsider from the chat id alone, before any read or command: the id names its
 * two participants (domain/chat-id.ts), so a user who is not one of them gets 403 NOT_A_PARTICIPANT
 * whether or not that chat exists. Reading first would answer 404 for a pair that never talked and
 * 403 for one that did, telling anyone logged in who talks to whom. The WebSocket gateway answers
 * the same way (gateways/ws: participantsOf before each frame's work).
 */
import { participantsOf } from '../../domain/chat-id.js';
import { ApiError } from './errors.js';

export function refuseOutsider(chatId: string, userId: string): void {
  const pair = participantsOf(chatId);
  // Not a pair at all (or not in sorted order): no chat can have this id.
  if (!pair) throw new ApiError('CHAT_NOT_FOUND');
  if (pair[0] !== userId && pair[1] !== userId) throw new ApiError('NOT_A_PARTICIPANT');
}
