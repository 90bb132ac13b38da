// The password hash lives in the user's stream and nowhere else: not in public records (what the
// relay publishes and sockets stream), not in CLI output, not in log lines.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import t from 'tap';
import { login } from '../../commands/login.js';
import { register } from '../../commands/register.js';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import { toPublicRecord } from '../../projections/ports/public-record.js';
import { createLogger } from '../../infra/logger.js';
import { depsFor } from '../commands/suite.js';

const run = promisify(execFile);

t.test('no password hash in public records, CLI output or logs', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-nohash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = EmbeddedEventStore.open({ file: path.join(dir, 'events.sqlite') });
  const deps = depsFor(store);
  const lines: string[] = [];
  const logger = createLogger({ level: 'trace' }, new Writable({ write(chunk, _e, cb) { lines.push(String(chunk)); cb(); } }));

  const reg = await register(deps, { username: 'hashowner', password: 'super secret pw' });
  t.ok(reg.ok);
  await login(deps, { username: 'hashowner', password: 'super secret pw' });
  const raw = await store.readStream('user-hashowner');
  const hash = (raw[0]!.data as { passwordHash: string }).passwordHash;
  t.match(hash, /^\$argon2id\$/, 'the hash is in the user stream (write side)');

  // Even a careless log call that hands over the raw event is censored by the logger.
  logger.info({ event: raw[0], password: 'super secret pw' }, 'careless');
  logger.info({ passwordHash: hash }, 'careless again');
  const records = (await store.readAll({ maxCount: 1000 })).map(toPublicRecord);
  await store.close();

  const cli = await run(process.execPath, ['bin/chat.js', 'events', 'tail', '--limit', '100'], { env: { ...process.env, DATA_DIR: dir, DATABASE_URL: '', EVENTSTORE_URL: '' } });
  t.match(cli.stdout, /UserRegistered/, 'the CLI printed the registration');

  for (const [where, text] of [['public records', JSON.stringify(records)], ['CLI output', cli.stdout + cli.stderr], ['log lines', lines.join('')]] as const) {
    t.notOk(text.includes(hash), `${where}: no hash`);
    t.notOk(text.includes('$argon2'), `${where}: nothing argon2-shaped`);
    t.notOk(text.includes('super secret pw'), `${where}: no password`);
  }
});
