// Health tells a lagging projection from a dead one: a poison event the feed keeps retrying (never
// parked) blocks the projections that cannot apply it; the others stay ok. Just behind, they are
// 'lagging' and /readyz (projectionsReadiness) stays ready; once nothing has moved for the
// threshold they are 'stalled', readiness fails naming them, and `chat projections status` says so.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { chatStreamId } from '../../domain/events.js';
import { projectionsReadiness } from '../../gateways/http/ops-wiring.js';
import { SQL_PROJECTIONS } from '../../projections/index.js';
import { createSqlProjector } from '../../projections/runtime/sql-projector.js';
import { projectionStatus, type ProjectionStatus } from '../../projections/runtime/status.js';
import { createStoreFeed } from '../../projections/runtime/store-feed.js';
import { chat, openWhere, project, type Where } from '../audit/support.js';
import { waitFor } from '../support/wait.js';
import { silentLogger, writeHistory } from './support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a projection stuck on a poison event: lagging, then stalled; readiness and the CLI tell', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'health-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const where: Where = { kind: 'embedded', dataDir };
  const env = await openWhere(where);
  t.teardown(() => env.close());
  const { chats } = await writeHistory(env.store);
  await project(env.store, env.orm);

  // A feed that never gives up on a record (no parking): the failure mode behind "subscriptions that silently die".
  const feed = createStoreFeed({
    store: env.store, projector: createSqlProjector({ db: env.orm.db, projections: SQL_PROJECTIONS, logger: silentLogger }),
    logger: silentLogger, lingerMs: 2, maxAttempts: Number.MAX_SAFE_INTEGER, retryMinMs: 20, retryMaxMs: 50,
  });
  await feed.start();
  t.teardown(() => feed.stop());
  const model = (await env.store.readStream(chatStreamId(chats[0]!))).find((e) => e.type === 'MessageSent')!;
  await env.store.append(chatStreamId(chats[0]!), [{ id: randomUUID(), type: 'MessageSent', data: { ...(model.data as object), messageId: randomUUID(), body: 42 }, metadata: { schemaVersion: 2 } }], 'any');
  await waitFor('the feed failing on the poison event', () => feed.status().lastError !== null);

  const status = (stallAfterMs: number) => projectionStatus({ db: env.orm.db, store: env.store, projections: SQL_PROJECTIONS, stallAfterMs });
  const verdicts = (s: ProjectionStatus[]) => Object.fromEntries(s.map((x) => [x.projection, x.verdict]));
  const expectStuck = (verdict: string) => Object.fromEntries(SQL_PROJECTIONS.map((p) => [p.name, ['chats', 'messages'].includes(p.name) ? verdict : 'ok']));

  const fresh = await status(60_000);
  t.same(verdicts(fresh), expectStuck('lagging'), 'just behind: lagging; the projections that applied it are ok');
  t.match(fresh.find((s) => s.projection === 'chats'), { lagEvents: 1, deadLetters: 0 });
  await t.resolves(projectionsReadiness(() => status(60_000))(), 'lagging is still ready');

  await sleep(1_300); // past the 1 s stall threshold used below: time itself is what this waits for
  t.same(verdicts(await status(1_000)), expectStuck('stalled'), 'nothing moved for longer than the threshold: stalled');
  await t.rejects(projectionsReadiness(() => status(1_000))(), { message: /^chats stalled 1 events behind; messages stalled 1 events behind$/ }, '/readyz fails, naming them');
  t.equal(feed.status().state, 'running', 'while the feed itself looks alive');

  const cli = await chat(where, ['projections', 'status', '--stall-after', '1']);
  t.equal(cli.code, 0, cli.stderr);
  t.match(cli.stdout, /^chats\s+stalled\s/m, 'chat projections status prints stalled');
  t.match(cli.stdout, /^messages\s+stalled\s/m);
  t.match(cli.stdout, /^users\s+ok\s/m);
  const json = JSON.parse((await chat(where, ['projections', 'status', '--stall-after', '600', '--format', 'json'])).stdout) as ProjectionStatus[];
  t.same(verdicts(json), expectStuck('lagging'), 'with a longer threshold the same state is only lagging');
});
