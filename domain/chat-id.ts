/**
 * One chat per pair of users: the id is the two user ids, sorted, so both users derive the same
 * chat from either side (Mattermost names direct channels the same way). ':' cannot occur in a
 * user id, so the pair can always be split back.
 */
export function chatIdFor(a: string, b: string): string {
  return a < b ? `${a}:${b}` : `${b}:${a}`;
}
