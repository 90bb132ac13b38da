/**
 * Opens the key store and the ring the configuration asks for: PostgreSQL (the deployment's schema)
 * when a database is configured, else a SQLite file in DATA_DIR. The KEK comes from
 * DATA_KEY_ENCRYPTION_KEY; without it, from DATA_DIR/data-key-encryption.key, created on first start.
 * That file sits next to the data it protects, which defeats the point against anyone who can read the
 * directory: fine for the embedded default on one machine, wrong for a deployment (docs/privacy.md).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ensurePrivateDir } from '../data-dir.js';
import path from 'node:path';
import { ConfigError, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { KeyStore } from '../../commands/ports/keys.js';
import { loadXChaCha } from './crypto.js';
import { KeyRing } from './ring.js';

export const KEK_FILE = 'data-key-encryption.key';

function kekFromFile(dataDir: string, logger: Logger): Buffer {
  const file = path.join(dataDir, KEK_FILE);
  try {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`${file} does not hold 32 bytes in base64`);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  ensurePrivateDir(dataDir);
  const key = randomBytes(32);
  // 'wx': two processes starting together must not each write a different key; the loser reads the winner's.
  try {
    writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return kekFromFile(dataDir, logger);
    throw err;
  }
  logger.warn({ file }, 'DATA_KEY_ENCRYPTION_KEY is not set: generated a key-encryption key and kept it in DATA_DIR; set DATA_KEY_ENCRYPTION_KEY (and keep it elsewhere) for a deployment');
  return key;
}

export async function openKeyStore(config: Pick<Config, 'databaseUrl' | 'databaseSchema' | 'dataDir'>): Promise<KeyStore> {
  if (config.databaseUrl) {
    const { PostgresKeyStore } = await import('./postgres.js');
    return PostgresKeyStore.open({ connectionString: config.databaseUrl, schema: config.databaseSchema });
  }
  const { SqliteKeyStore } = await import('./sqlite.js');
  return SqliteKeyStore.open({ file: path.join(config.dataDir, 'keys.sqlite') });
}

/**
 * The ring, once its KEK is shown to be the deployment's: a process with another key (each process
 * generating its own file in its own DATA_DIR, a file deleted and made again, the variable set over an
 * embedded directory whose keys the file wrapped) refuses to start, instead of starting "ready" and
 * failing every login and read of the users it cannot open.
 */
export async function openKeyRing(config: Pick<Config, 'databaseUrl' | 'databaseSchema' | 'dataDir' | 'dataKeyEncryption'>, logger: Logger): Promise<KeyRing> {
  if (config.dataKeyEncryption.cipher === 'xchacha20-poly1305') await loadXChaCha();
  const store = await openKeyStore(config);
  try {
    const file = path.join(config.dataDir, KEK_FILE);
    if (!config.dataKeyEncryption.current && !existsSync(file) && (await store.wrappedBy('', 1)).length > 0) {
      throw new ConfigError('DATA_KEY_ENCRYPTION_KEY', `is not set, and ${file} does not exist, but the key store already holds data keys: set DATA_KEY_ENCRYPTION_KEY to the key that wrapped them (the same in every process); a new key would open none of them`);
    }
    const kek = config.dataKeyEncryption.current ?? kekFromFile(config.dataDir, logger);
    const ring = new KeyRing({
      store, kek, cipher: config.dataKeyEncryption.cipher,
      ...(config.dataKeyEncryption.previous ? { previousKek: config.dataKeyEncryption.previous } : {}),
    });
    const foreign = await ring.foreignKekId();
    if (foreign !== null) {
      const source = config.dataKeyEncryption.current ? 'DATA_KEY_ENCRYPTION_KEY' : `the key in ${file}`;
      const fileHint = config.dataKeyEncryption.current && existsSync(file) ? ` (if they were wrapped by the key in ${file}, pass it as DATA_KEY_ENCRYPTION_KEY_PREVIOUS and run chat users rewrap-keys)` : '';
      throw new ConfigError('DATA_KEY_ENCRYPTION_KEY', `does not match the key store: its data keys were wrapped by key-encryption key ${foreign}, and ${source} is ${ring.kekId}. Every process of a deployment needs the same key; while rotating, the old one goes in DATA_KEY_ENCRYPTION_KEY_PREVIOUS${fileHint}`);
    }
    return ring;
  } catch (err) {
    await store.close();
    throw err;
  }
}
