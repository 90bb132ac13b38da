/**
 * DATA_DIR holds the embedded default's SQLite files: read models with plaintext bodies, sessions,
 * the key store and, unless configured elsewhere, the key-encryption key. A directory this creates is
 * its owner's alone (0700), whatever the umask; one that already exists is left as it is, and the
 * service warns when others can read it (docs/privacy.md).
 */
import { mkdirSync, statSync } from 'node:fs';

export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Whether group or others have any access to the directory; false when it does not exist. */
export function openToOthers(dir: string): boolean {
  try {
    return (statSync(dir).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}
