// DATA_DIR (infra/data-dir.ts): a directory the service creates for its SQLite files is its owner's
// alone, whatever the umask; an existing one open to others is reported.
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { openKeyStore } from '../../infra/keys/open.js';
import { ensurePrivateDir, openToOthers } from '../../infra/data-dir.js';

t.test('the embedded stores create DATA_DIR as 0700; an open one is noticed', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'chat-datadir-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const previous = process.umask(0o022);
  t.teardown(() => process.umask(previous));
  const dataDir = path.join(root, 'nested', 'data');
  const keys = await openKeyStore({ databaseUrl: undefined, databaseSchema: 'public', dataDir });
  await keys.close();
  t.equal(statSync(dataDir).mode & 0o777, 0o700, 'created for its owner only, under umask 022');
  t.equal(statSync(path.dirname(dataDir)).mode & 0o777, 0o700, 'and so is the parent it had to create');
  t.notOk(openToOthers(dataDir));
  chmodSync(dataDir, 0o755);
  t.ok(openToOthers(dataDir), 'a directory others can read is reported');
  t.notOk(openToOthers(path.join(root, 'missing')), 'a missing one is not');
});

t.test('ensurePrivateDir: an existing directory is kept; what cannot be a directory fails at once', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'chat-datadir-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  ensurePrivateDir(root);
  t.ok(statSync(root).isDirectory(), 'an existing directory: nothing to do');
  writeFileSync(path.join(root, 'file'), '');
  t.throws(() => ensurePrivateDir(path.join(root, 'file')), { code: 'EEXIST' }, 'a file in the way');
  t.throws(() => ensurePrivateDir(path.join(root, 'file', 'sub')), { code: 'ENOTDIR' }, 'a file as a parent');
  // Node 20's recursive mkdirSync never returns here: mkdir under /proc answers ENOENT though /proc exists.
  if (existsSync('/proc/self')) t.throws(() => ensurePrivateDir('/proc/nope/data'), { code: 'ENOENT' }, 'under /proc: an error, not a hang');
});
