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
