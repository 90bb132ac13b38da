/**
 * One chat per pair of users: the id is the two user ids, sorted, so both users derive the same
 * chat from either side (Mattermost names direct channels the same way). ':' cannot occur in a
 * user id, so the pair can always be split back.
 */
export function chatIdFor(a: string, b: string): string {
  return a < b ? `${a}:${b}` : `${b}:${a}`;
}

/**
 * The two participants of a well-formed chat id, or null. Chat ids are derived from the pair
 * (sorted, ':'-joined; user ids cannot contain ':'), so membership needs no lookup, and an outsider
 * can be refused without telling whether the chat exists.
 */
export function participantsOf(chatId: string): [string, string] | null {
  const i = chatId.indexOf(':');
  if (i <= 0 || i === chatId.length - 1 || chatId.indexOf(':', i + 1) !== -1) return null;
  const a = chatId.slice(0, i);
  const b = chatId.slice(i + 1);
  return a < b ? [a, b] : null;
}

/** Why a user is refused a chat from its id alone. */
export type OutsiderCode = 'CHAT_NOT_FOUND' | 'NOT_A_PARTICIPANT';

/**
 * The other participant of `chatId` when `userId` is one of its two, or why they are refused before
 * any read: CHAT_NOT_FOUND when the id is no sorted pair (no chat can have it), NOT_A_PARTICIPANT when
 * the pair leaves them out, whether or not that chat exists, so that the answer does not tell who
 * talks to whom. Every client surface (HTTP routes, WebSocket frames) refuses through this one rule.
 */
export function otherParticipant(chatId: string, userId: string): { other: string } | { refused: OutsiderCode } {
  const pair = participantsOf(chatId);
  if (!pair) return { refused: 'CHAT_NOT_FOUND' };
  if (pair[0] === userId) return { other: pair[1] };
  if (pair[1] === userId) return { other: pair[0] };
  return { refused: 'NOT_A_PARTICIPANT' };
}
