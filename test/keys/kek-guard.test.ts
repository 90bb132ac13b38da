// A process whose key-encryption key is not the deployment's refuses to start (infra/keys/open.ts):
// each process making its own key file, a key file deleted and made again, the variable set over an
// embedded directory whose keys the file wrapped. Before, such a process started "ready" and failed
// every login of a user it could not open with a 500.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { loadConfig } from '../../infra/config.js';
import { KEK_FILE, openKeyRing } from '../../infra/keys/open.js';
import { createLogger } from '../../infra/logger.js';
import { createTestSchema } from '../support/pg.js';

const logger = createLogger({ level: 'silent', name: 'kek-guard' });
const b64 = (k: Buffer): string => k.toString('base64');

async function ringWithKeyFor(env: Record<string, string>, userId: string): Promise<void> {
  const ring = await openKeyRing(loadConfig(env), logger);
  await ring.keysForSealing([userId]);
  await ring.store.close();
}

t.test('embedded: a missing, replaced or foreign key is refused at start, with what to do', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kek-guard-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, KEK_FILE);
  await ringWithKeyFor({ DATA_DIR: dir }, 'alice');
  const fileKey = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');

  rmSync(file);
  await t.rejects(openKeyRing(loadConfig({ DATA_DIR: dir }), logger), /DATA_KEY_ENCRYPTION_KEY is not set, and .* does not exist, but the key store already holds data keys/);
  t.notOk(existsSync(file), 'no new key file was made');

  await t.rejects(openKeyRing(loadConfig({ DATA_DIR: dir, DATA_KEY_ENCRYPTION_KEY: b64(randomBytes(32)) }), logger), /does not match the key store: its data keys were wrapped by key-encryption key [0-9a-f]{16}, and DATA_KEY_ENCRYPTION_KEY is [0-9a-f]{16}/);

  const next = b64(randomBytes(32));
  const rotating = await openKeyRing(loadConfig({ DATA_DIR: dir, DATA_KEY_ENCRYPTION_KEY: next, DATA_KEY_ENCRYPTION_KEY_PREVIOUS: b64(fileKey) }), logger);
  t.same(await rotating.rotate(), { rewrapped: 1, unreadable: [] }, 'with the old key as the previous one, rotation proceeds');
  await rotating.store.close();
  const after = await openKeyRing(loadConfig({ DATA_DIR: dir, DATA_KEY_ENCRYPTION_KEY: next }), logger);
  t.ok((await after.keysForSealing(['alice'])).get('alice'), 'and afterwards the new key alone opens the store');
  await after.store.close();
});

t.test('PostgreSQL: a second process with a key file of its own refuses to start', async (t) => {
  const schema = await createTestSchema('kekguard');
  t.teardown(() => schema.drop());
  const dirs = [0, 1].map(() => mkdtempSync(path.join(tmpdir(), 'kek-guard-pg-')));
  t.teardown(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
  const env = (dir: string) => ({ DATA_DIR: dir, DATABASE_URL: schema.url, DATABASE_SCHEMA: schema.schema });
  await ringWithKeyFor(env(dirs[0]!), 'gina');
  await t.rejects(openKeyRing(loadConfig(env(dirs[1]!)), logger), /DATA_KEY_ENCRYPTION_KEY is not set, and .* does not exist, but the key store already holds data keys/, 'no file of its own is made either');
  t.notOk(existsSync(path.join(dirs[1]!, KEK_FILE)));
  const shared = readFileSync(path.join(dirs[0]!, KEK_FILE), 'utf8').trim();
  const second = await openKeyRing(loadConfig({ ...env(dirs[1]!), DATA_KEY_ENCRYPTION_KEY: shared }), logger);
  t.ok((await second.keysForSealing(['gina'])).get('gina'), 'with the deployment\'s key it starts and opens the keys');
  await second.store.close();
});
