import { domainError, type DomainError } from './errors.js';
import { isStorableText } from './text.js';

export const PASSWORD_MIN_CHARS = 8;
/** Capped in bytes, not characters, because the byte length is what the hash function has to chew. */
export const PASSWORD_MAX_BYTES = 256;

function utf8Length(text: string): number {
  let bytes = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return bytes;
}

/**
 * Checked before any hashing, so an oversized password costs nothing. Only new passwords (register)
 * come here; login checks just the size, so an account made before a rule was added can still log in.
 */
export function checkPassword(password: string): DomainError | null {
  if ([...password].length < PASSWORD_MIN_CHARS) return domainError('PASSWORD_TOO_SHORT');
  if (utf8Length(password) > PASSWORD_MAX_BYTES) return domainError('PASSWORD_TOO_LONG');
  // NUL ends a password wherever it passes as a C string (a terminal, another hasher); an unpaired
  // surrogate has no UTF-8 form, so the hasher would see U+FFFD and distinct passwords would hash alike.
  if (!isStorableText(password)) return domainError('PASSWORD_INVALID_CHARACTERS');
  return null;
}
