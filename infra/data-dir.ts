/**
 * DATA_DIR holds the embedded default's SQLite files: read models with plaintext bodies, sessions,
 * the key store and, unless configured elsewhere, the key-encryption key. A directory this creates is
 * its owner's alone (0700), whatever the umask; one that already exists is left as it is, and the
 * service warns when others can read it (docs/privacy.md).
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Creates the directory and any missing parents, each 0700. Walked by hand: Node 20's recursive
 * mkdirSync spins forever where mkdir answers ENOENT under a parent that exists (under /proc, say).
 */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && statSync(dir).isDirectory()) return;
    const parent = path.dirname(dir);
    if (code !== 'ENOENT' || parent === dir || existsSync(parent)) throw err;
    ensurePrivateDir(parent);
    mkdirSync(dir, { mode: 0o700 });
  }
}

/** Whether group or others have any access to the directory; false when it does not exist. */
export function openToOthers(dir: string): boolean {
  try {
    return (statSync(dir).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}
