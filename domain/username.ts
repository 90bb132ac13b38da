/**
 * Usernames are matched case-insensitively, so they are stored lower-cased: the lower-cased name is
 * the user id and names the user's stream, which makes "unique" a property of the event store's
 * expected-revision check rather than of a lookup that could race.
 */
const USERNAME = /^[a-z0-9_.-]{3,32}$/;

/** A new name also needs a letter or a digit: "..." or "---" would show as nothing a person can tell apart. */
const LETTER_OR_DIGIT = /[a-z0-9]/;

/**
 * Only A-Z is lower-cased: Unicode case mapping would turn some other letters into ASCII (the Kelvin
 * sign U+212A into "k"), so "\u212Aelvin" would have been taken as "kelvin" instead of refused.
 */
export const normalizeUsername = (raw: string): string => raw.trim().replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
/** Could a user have this name? (Accounts registered before the letter-or-digit rule keep theirs: lookups use this.) */
export const isValidUsername = (normalized: string): boolean => USERNAME.test(normalized);
/** May a new account take this name? */
export const isValidNewUsername = (normalized: string): boolean => USERNAME.test(normalized) && LETTER_OR_DIGIT.test(normalized);
