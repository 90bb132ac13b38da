/**
 * The cryptography of personal data:
 * - a value (a message body, a password hash) is sealed with its owner's 32-byte data key. The additional
 *   data names the field and the event, so a ciphertext moved to another field or event does not open.
 *   Two formats, told apart by their prefix; every value opens whichever it is:
 *   - `g1.`, the default: AES-256-GCM (node:crypto) with a fresh random 96-bit nonce;
 *   - `x1.`, with `DATA_CIPHER=xchacha20-poly1305`: XChaCha20-Poly1305 (libsodium) with a fresh random
 *     192-bit nonce, under a subkey derived from the data key (HKDF-SHA-256), so that one key never serves
 *     two algorithms. It costs about half the CPU per value: node:crypto pays per call, and a GCM cipher
 *     object cannot take a second nonce (docs/performance.md, "Encryption of personal data").
 *   A random nonce is safe for both: one key seals far fewer than the 2^32 values GCM allows per random
 *   96-bit nonce, and a 192-bit nonce has no practical bound.
 * - a data key is stored wrapped (sealed, `g1.`) by the key-encryption key (KEK) from configuration, with
 *   the user id as additional data, so a wrapped key copied to another user's row does not open either.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, randomFillSync } from 'node:crypto';
import type Sodium from 'libsodium-wrappers';
import type { DataCipher } from '../config.js';

/**
 * libsodium, loaded only by a process that seals `x1.` values or meets one (loadXChaCha): its
 * WebAssembly module costs about 40 ms and 13 MB of memory, which a `g1.`-only deployment need not pay.
 */
let sodium: typeof Sodium | null = null;

export async function loadXChaCha(): Promise<void> {
  if (sodium !== null) return;
  const loaded = (await import('libsodium-wrappers')).default;
  await loaded.ready;
  sodium = loaded;
}

/** True when sealing with this cipher needs loadXChaCha() first. */
export const cipherNeedsLoading = (cipher: DataCipher): boolean => sodium === null && cipher === 'xchacha20-poly1305';

/** True when opening this value needs loadXChaCha() first. */
export const valueNeedsLoading = (sealed: unknown): boolean => sodium === null && typeof sealed === 'string' && sealed.startsWith('x1.');

function xchacha(): typeof Sodium {
  if (sodium === null) throw new Error('x1 values need loadXChaCha() before they are sealed or opened');
  return sodium;
}

export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Mark the sealed formats, so each value says how it opens. */
const VALUE_PREFIX = 'g1.';
const X_PREFIX = 'x1.';
const X_NONCE_BYTES = 24;
const X_TAG_BYTES = 16;

/**
 * Nonces are cut from a buffer of random bytes filled 24 KiB at a time (2,048 `g1.` nonces, 1,024 `x1.`
 * ones): one call into the CSPRNG per value cost as much as the cipher itself (bench:append,
 * docs/performance.md). Each nonce is copied out before the next is cut, and a byte is never handed out
 * twice, whichever cipher takes it.
 */
const noncePool = Buffer.allocUnsafe(X_NONCE_BYTES * 1024);
let nonceAt = noncePool.length;

function nextNonce(bytes: number): Buffer {
  if (nonceAt + bytes > noncePool.length) {
    randomFillSync(noncePool);
    nonceAt = 0;
  }
  const nonce = noncePool.subarray(nonceAt, nonceAt + bytes);
  nonceAt += bytes;
  return nonce;
}

/** Each data key's XChaCha20-Poly1305 subkey, derived once per key object the key ring hands out. */
const subkeys = new WeakMap<Buffer, Uint8Array>();
function subkeyOf(key: Buffer): Uint8Array {
  let sub = subkeys.get(key);
  if (sub === undefined) {
    sub = new Uint8Array(hkdfSync('sha256', key, '', 'simple-chat x1 xchacha20-poly1305', KEY_BYTES));
    subkeys.set(key, sub);
  }
  return sub;
}

/**
 * `x1.` + base64(nonce | ciphertext | tag). Buffers go in, not strings: the wrapper's own UTF-8
 * encoding of a string costs more than the cipher.
 */
function sealX(key: Buffer, plaintext: Buffer, aad: string): string {
  const nonce = nextNonce(X_NONCE_BYTES);
  const sealed = xchacha().crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, Buffer.from(aad, 'utf8'), null, nonce, subkeyOf(key));
  const out = Buffer.allocUnsafe(X_NONCE_BYTES + sealed.length);
  nonce.copy(out, 0);
  out.set(sealed, X_NONCE_BYTES);
  return X_PREFIX + out.toString('base64');
}

function openX(key: Buffer, sealed: string, aad: string): Buffer {
  const raw = Buffer.from(sealed.slice(X_PREFIX.length), 'base64');
  if (raw.length < X_NONCE_BYTES + X_TAG_BYTES) throw new Error('sealed value too short');
  const plain = xchacha().crypto_aead_xchacha20poly1305_ietf_decrypt(
    null, raw.subarray(X_NONCE_BYTES), Buffer.from(aad, 'utf8'), raw.subarray(0, X_NONCE_BYTES), subkeyOf(key),
  );
  return Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength);
}

/** `g1.` + base64(nonce | ciphertext | tag), written into one buffer (no intermediate concatenations). */
function seal(key: Buffer, plaintext: Buffer, aad: string): string {
  const nonce = nextNonce(NONCE_BYTES);
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
  if (sealed.startsWith(X_PREFIX)) return openX(key, sealed, aad);
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

export const sealText = (key: Buffer, text: string, aad: string, cipher: DataCipher = 'aes-256-gcm'): string =>
  cipher === 'xchacha20-poly1305' ? sealX(key, Buffer.from(text, 'utf8'), aad) : seal(key, Buffer.from(text, 'utf8'), aad);
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
