/**
 * Usernames are matched case-insensitively, so they are stored lower-cased: the lower-cased name is
 * the user id and names the user's stream, which makes "unique" a property of the event store's
 * expected-revision check rather than of a lookup that could race.
 */
const USERNAME = /^[a-z0-9_.-]{3,32}$/;

export const normalizeUsername = (raw: string): string => raw.trim().toLowerCase();
export const isValidUsername = (normalized: string): boolean => USERNAME.test(normalized);
