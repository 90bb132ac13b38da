/**
 * The cryptography of personal data, all node:crypto AES-256-GCM:
 * - a value (a message body, a password hash) is sealed with its owner's 32-byte data key and a fresh
 *   random 96-bit nonce; the additional data names the field and the event, so a ciphertext moved to
 *   another field or event does not open;
 * - a data key is stored wrapped (sealed) by the key-encryption key (KEK) from configuration, with the
 *   user id as additional data, so a wrapped key copied to another user's row does not open either.
 * A random nonce is safe here: one key seals far fewer than the 2^32 values GCM allows per random nonce.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomFillSync } from 'node:crypto';

export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Marks the sealed format, so a later format can be told apart. */
const VALUE_PREFIX = 'g1.';

/**
 * Nonces are cut from a buffer of random bytes filled 1,024 nonces at a time: one call into the
 * CSPRNG per value cost as much as the cipher itself (bench:append, docs/performance.md). Each nonce is
 * copied out before the next is cut, and a byte is never handed out twice.
 */
const noncePool = Buffer.allocUnsafe(NONCE_BYTES * 1024);
let nonceAt = noncePool.length;

function nextNonce(): Buffer {
  if (nonceAt + NONCE_BYTES > noncePool.length) {
    randomFillSync(noncePool);
    nonceAt = 0;
  }
  const nonce = noncePool.subarray(nonceAt, nonceAt + NONCE_BYTES);
  nonceAt += NONCE_BYTES;
  return nonce;
}

/** `g1.` + base64(nonce | ciphertext | tag), written into one buffer (no intermediate concatenations). */
function seal(key: Buffer, plaintext: Buffer, aad: string): string {
  const nonce = nextNonce();
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = cipher.update(plaintext);
  const rest = cipher.final(); // empty for GCM, a stream cipher: kept for correctness all the same
  const out = Buffer.allocUnsafe(NONCE_BYTES + body.length + rest.length + TAG_BYTES);
  nonce.copy(out, 0);
  body.copy(out, NONCE_BYTES);
  rest.copy(out, NONCE_BYTES + body.length);
  cipher.getAuthTag().copy(out, NONCE_BYTES + body.length + rest.length);
  return VALUE_PREFIX + out.toString('base64');
}

/** Throws when the value was not sealed by this key with this additional data (tampered, wrong key, moved). */
function open(key: Buffer, sealed: string, aad: string): Buffer {
  if (!sealed.startsWith(VALUE_PREFIX)) throw new Error('not a sealed value');
  const raw = Buffer.from(sealed.slice(VALUE_PREFIX.length), 'base64');
  if (raw.length < NONCE_BYTES + TAG_BYTES) throw new Error('sealed value too short');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, NONCE_BYTES));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
  const body = decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES));
  const rest = decipher.final();
  return rest.length === 0 ? body : Buffer.concat([body, rest]);
}

export const sealText = (key: Buffer, text: string, aad: string): string => seal(key, Buffer.from(text, 'utf8'), aad);
export const openText = (key: Buffer, sealed: string, aad: string): string => open(key, sealed, aad).toString('utf8');

export const newDataKey = (): Buffer => randomBytes(KEY_BYTES);

export const wrapKey = (kek: Buffer, dataKey: Buffer, userId: string): string => seal(kek, dataKey, `data-key:${userId}`);

export function unwrapKey(kek: Buffer, wrapped: string, userId: string): Buffer {
  const key = open(kek, wrapped, `data-key:${userId}`);
  if (key.length !== KEY_BYTES) throw new Error('unwrapped data key has the wrong length');
  return key;
}

/** Names a KEK without revealing it: stored next to each wrapped key, so a rotation can tell which rows are done. */
export const kekIdOf = (kek: Buffer): string => createHash('sha256').update('kek-id:').update(kek).digest('hex').slice(0, 16);
