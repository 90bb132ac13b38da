/**
 * The one registry of domain error codes. Codes are stable API: clients match on them, so
 * never rename one; add a new code instead. docs/errors.md lists them and a test keeps the two equal.
 */
export const DOMAIN_ERRORS = {
  USERNAME_INVALID: 'Username must be 3 to 32 characters of a-z, 0-9, underscore, dot or hyphen, with at least one letter or digit.',
  USERNAME_TAKEN: 'That username is already registered.',
  PASSWORD_TOO_SHORT: 'Password must be at least 8 characters.',
  PASSWORD_TOO_LONG: 'Password must be at most 256 bytes.',
  PASSWORD_INVALID_CHARACTERS: 'Password must not contain U+0000 (NUL) or unpaired surrogate code units.',
  USER_NOT_FOUND: 'No such user.',
  INVALID_CREDENTIALS: 'Invalid username or password.',
  CHAT_WITH_SELF: 'A chat needs two different users.',
  CHAT_NOT_FOUND: 'No such chat.',
  NOT_A_PARTICIPANT: 'Only the participants of a chat can do that.',
  MESSAGE_EMPTY: 'Message must not be empty.',
  MESSAGE_TOO_LONG: 'Message must be at most 4000 characters.',
  MESSAGE_INVALID_CHARACTERS: 'Message must not contain U+0000 (NUL) or unpaired surrogate code units.',
  CLIENT_MESSAGE_ID_INVALID: 'The client-chosen id (clientMessageId, clientEditId or clientDeleteId) must be 1 to 64 characters of a-z, A-Z, 0-9, underscore or hyphen.',
  READ_REVISION_INVALID: 'The revision to mark read must be a whole number, 0 or more.',
  READ_REVISION_AHEAD: "The revision to mark read is past the chat's newest message.",
  USER_ERASED: 'This account was erased; nothing can be written for it any more.',
  PARTICIPANT_ERASED: 'The other participant erased their account; this chat takes no new messages.',
  MESSAGE_NOT_FOUND: 'No such message in this chat.',
  NOT_MESSAGE_SENDER: 'Only the sender of a message can edit or delete it.',
  MESSAGE_DELETED: 'That message was deleted.',
  EDIT_WINDOW_PASSED: 'That message is too old to edit.',
} as const;

export type DomainErrorCode = keyof typeof DOMAIN_ERRORS;

export interface DomainError {
  readonly code: DomainErrorCode;
  readonly message: string;
}

export const domainError = (code: DomainErrorCode): DomainError => ({ code, message: DOMAIN_ERRORS[code] });

export const isDomainErrorCode = (value: string): value is DomainErrorCode =>
  Object.prototype.hasOwnProperty.call(DOMAIN_ERRORS, value);
