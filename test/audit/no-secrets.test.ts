// Nothing secret in any audit output: users register (argon2 hashes in their streams) and log in
// (sessions with bearer tokens), then `chat audit activity` in all three formats (stdout and --out)
// and `chat audit verify` (table and JSON) print no hash, no password and no token anywhere.
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { login } from '../../commands/login.js';
import { register } from '../../commands/register.js';
import { SqliteSessionStore } from '../../infra/sessions/sqlite.js';
import { depsWithClock } from '../projections/support.js';
import { chat, openWhere, project, type Where } from './support.js';

const PASSWORDS: Record<string, string> = { alice: 'correct horse battery', bob: 'tr0ub4dor&3-secret', dave: 'auditor-passphrase-9' };

t.test('audit activity (table, jsonl, csv) and verify print no hash, password or token', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'audit-secrets-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const where: Where = { kind: 'embedded', dataDir };
  const env = await openWhere(where);
  const deps = depsWithClock(env.store);
  for (const [u, password] of Object.entries(PASSWORDS)) {
    const r = await register(deps, { username: u, password, role: u === 'dave' ? 'auditor' : 'user' });
    t.ok(r.ok, `registered ${u}`);
    t.ok((await login(deps, { username: u, password })).ok, `logged in ${u}`);
  }
  const sessions = SqliteSessionStore.open({ file: path.join(dataDir, 'sessions.sqlite') });
  const tokens = await Promise.all(Object.keys(PASSWORDS).map(async (u) => (await sessions.create({ userId: u, role: 'user' })).token));
  await sessions.close();
  await project(env.store, env.orm);
  await env.close();
  t.match(readFileSync(path.join(dataDir, 'events.sqlite')).toString('latin1'), /\$argon2id\$/, 'the log itself does hold the hashes (so the test means something)');

  const out = path.join(dataDir, 'export.csv');
  const runs = await Promise.all([
    chat(where, ['audit', 'activity']),
    chat(where, ['audit', 'activity', '--format', 'jsonl', '--progress']),
    chat(where, ['audit', 'activity', '--format', 'csv', '--out', out]),
    chat(where, ['audit', 'verify']),
    chat(where, ['audit', 'verify', '--format', 'json', '--progress']),
  ]);
  for (const r of runs) t.equal(r.code, 0, r.stderr);
  t.match(runs[0]!.stdout, /alice\s+register/);
  t.equal(runs[1]!.stdout.trim().split('\n').length, 6, 'three registrations and three logins');
  t.match(runs[1]!.stderr, /audit \[.*\] 100% \| 6 events/, 'the progress bar, on stderr');
  t.equal(runs[2]!.stdout, '', 'with --out, nothing on stdout');
  const csv = readFileSync(out, 'utf8');
  t.equal(csv.split('\r\n').filter(Boolean).length, 7, 'header and six rows in the file');
  t.equal(statSync(out).mode & 0o777, 0o600, 'the export file is readable by its owner only');

  // An existing file is refused without --force (a mistyped path is not clobbered); with it, the file
  // is narrowed to the owner before it is written; a symbolic link is not followed either way.
  chmodSync(out, 0o644);
  writeFileSync(out, 'mine\n');
  const exists = await chat(where, ['audit', 'activity', '--format', 'csv', '--out', out]);
  t.same([exists.code, exists.stdout], [2, ''], 'an existing file without --force is a usage error');
  t.match(exists.stderr, /--out .*export\.csv exists; pass --force to replace it/);
  t.same([readFileSync(out, 'utf8'), statSync(out).mode & 0o777], ['mine\n', 0o644], 'and is left as it was');
  const lone = await chat(where, ['audit', 'activity', '--force']);
  t.same([lone.code, lone.stdout], [2, ''], '--force alone is a usage error');
  t.equal((await chat(where, ['audit', 'activity', '--format', 'csv', '--out', out, '--force'])).code, 0);
  t.equal(statSync(out).mode & 0o777, 0o600, 'a file that existed, readable by others, is owner-only now');
  t.equal(readFileSync(out, 'utf8').split('\r\n').filter(Boolean).length, 7, 'and holds the export');
  const devNullMode = statSync('/dev/null').mode;
  const toDevice = await chat(where, ['audit', 'activity', '--format', 'csv', '--out', '/dev/null']);
  t.equal(toDevice.code, 0, `a device is written as it is, no --force needed: ${toDevice.stderr}`);
  t.equal(statSync('/dev/null').mode, devNullMode, 'and is never re-permissioned');
  const target = path.join(dataDir, 'elsewhere.csv');
  writeFileSync(target, 'keep\n', { mode: 0o644 });
  const link = path.join(dataDir, 'planted.csv');
  symlinkSync(target, link);
  const refused = await chat(where, ['audit', 'activity', '--format', 'csv', '--out', link, '--force']);
  t.equal(refused.code, 2, 'a symbolic link is a usage error');
  t.match(refused.stderr, /cannot write --out/);
  t.equal(readFileSync(target, 'utf8'), 'keep\n', 'and the file it points to is untouched');

  const everything = [...runs.flatMap((r) => [r.stdout, r.stderr]), csv].join('\n');
  t.notMatch(everything, /\$argon2/, 'no password hash');
  t.notMatch(everything, /passwordHash|password/i, 'no password field');
  for (const p of Object.values(PASSWORDS)) t.notOk(everything.includes(p), 'no password');
  for (const token of tokens) t.notOk(everything.includes(token), 'no session token');
});
