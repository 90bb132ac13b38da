/**
 * Chat routes refuse an outsider from the chat id alone, before any read or command: the id names its
 * two participants (domain/chat-id.ts), so a user who is not one of them gets 403 NOT_A_PARTICIPANT
 * whether or not that chat exists. Reading first would answer 404 for a pair that never talked and
 * 403 for one that did, telling anyone logged in who talks to whom. The WebSocket gateway answers
 * the same way (otherParticipant before each frame's work).
 */
import { otherParticipant } from '../../domain/chat-id.js';
import { ApiError } from './errors.js';

export function refuseOutsider(chatId: string, userId: string): void {
  const member = otherParticipant(chatId, userId);
  if ('refused' in member) throw new ApiError(member.refused);
}
