/**
 * Opens the key store and the ring the configuration asks for: PostgreSQL (the deployment's schema)
 * when a database is configured, else a SQLite file in DATA_DIR. The KEK comes from
 * DATA_KEY_ENCRYPTION_KEY; without it, from DATA_DIR/data-key-encryption.key, created on first start.
 * That file sits next to the data it protects, which defeats the point against anyone who can read the
 * directory: fine for the embedded default on one machine, wrong for a deployment (docs/privacy.md).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { ensurePrivateDir } from '../data-dir.js';
import path from 'node:path';
import type { Config } from '../config.js';
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

export async function openKeyRing(config: Pick<Config, 'databaseUrl' | 'databaseSchema' | 'dataDir' | 'dataKeyEncryption'>, logger: Logger): Promise<KeyRing> {
  const kek = config.dataKeyEncryption.current ?? kekFromFile(config.dataDir, logger);
  if (config.dataKeyEncryption.cipher === 'xchacha20-poly1305') await loadXChaCha();
  const store = await openKeyStore(config);
  return new KeyRing({
    store, kek, cipher: config.dataKeyEncryption.cipher,
    ...(config.dataKeyEncryption.previous ? { previousKek: config.dataKeyEncryption.previous } : {}),
  });
}
