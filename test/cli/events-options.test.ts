// `chat events tail`'s options, as a shell user meets them: its help prints (the bigint default broke
// commander's help), and a position past the stores' 64-bit range is a usage error (exit 2), not a
// database error.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { EmbeddedEventStore } from '../../infra/event-store/embedded.js';
import { chat } from '../audit/support.js';

t.test('events tail: help, and positions out of range', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-cli-events-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const where = { kind: 'embedded', dataDir } as const;
  await EmbeddedEventStore.open({ file: path.join(dataDir, 'events.sqlite') }).close(); // an empty log
  const help = await chat(where, ['events', 'tail', '--help']);
  t.equal(help.code, 0, help.stderr);
  t.match(help.stdout, /--after <position>.*default: 0/s);
  const tooBig = await chat(where, ['events', 'tail', '--after', '99999999999999999999999']);
  t.equal(tooBig.code, 2, 'a usage error');
  t.match(tooBig.stderr, /must be at most 9223372036854775807/);
  const fine = await chat(where, ['events', 'tail', '--after', '9223372036854775807']);
  t.equal(fine.code, 0, `the largest position is fine: ${fine.stderr}`);
  t.equal(fine.stdout, '', 'and there is nothing after it');
  for (const bad of ['0', '-1', '2.5', 'many']) {
    const limit = await chat(where, ['events', 'tail', '--limit', bad]);
    t.equal(limit.code, 2, `--limit ${bad}: a usage error, as for the other commands`);
    t.match(limit.stderr, /--limit/);
  }
});
