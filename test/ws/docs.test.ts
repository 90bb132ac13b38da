// docs/websocket.md prints the JSON schema of every frame; this keeps it equal to the code's
// (gateways/ws/protocol.ts), its error-code table equal to the codes the gateway can send, its event
// records table equal to what the domain writes, and its settings' defaults equal to the code's.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { chatDecider } from '../../domain/chat.js';
import { DOMAIN_ERRORS } from '../../domain/errors.js';
import { CHAT_EVENT_TYPES, EVENT_VERSIONS, type ChatEvent } from '../../domain/events.js';
import { DEFAULT_WS_CONFIG, type WsConfig } from '../../gateways/ws/config.js';
import { FRAME_SCHEMAS, WS_ERRORS } from '../../gateways/ws/protocol.js';
import { loadConfig } from '../../infra/config.js';
import { ROOT } from './support.js';

const doc = readFileSync(path.join(ROOT, 'docs/websocket.md'), 'utf8');

t.test('every frame schema in docs/websocket.md equals the code', async (t) => {
  for (const [name, schema] of Object.entries(FRAME_SCHEMAS)) {
    const m = new RegExp(`### \`${name}\`[\\s\\S]*?\`\`\`json\\n([\\s\\S]*?)\`\`\``).exec(doc);
    t.ok(m, `a schema block for ${name}`);
    if (m) t.same(JSON.parse(m[1]!), JSON.parse(JSON.stringify(schema)), `${name}: docs match protocol.ts`);
  }
});

t.test('the error codes table lists every code a socket can receive, and only known codes', async (t) => {
  const section = doc.slice(doc.indexOf('## Error codes'), doc.indexOf('## Close codes'));
  const listed = new Set([...section.matchAll(/^\| ([A-Z_]+) \|/gm)].map((m) => m[1]!));
  const sendable = [...Object.keys(WS_ERRORS), 'CHAT_NOT_FOUND', 'NOT_A_PARTICIPANT', 'MESSAGE_EMPTY', 'MESSAGE_TOO_LONG', 'MESSAGE_INVALID_CHARACTERS', 'CLIENT_MESSAGE_ID_INVALID'];
  for (const code of sendable) t.ok(listed.has(code), `${code} is documented`);
  for (const code of listed) t.ok(code in WS_ERRORS || code in DOMAIN_ERRORS, `${code} is a real code`);
});

const section = (title: string): string => {
  const start = doc.indexOf(title);
  return doc.slice(start, doc.indexOf('\n#', start + title.length));
};

t.test('the event records table lists each chat event type with the data fields the domain writes', async (t) => {
  const at = '2026-01-01T00:00:00.000Z';
  const started = chatDecider.decide({ type: 'StartChat', chatId: 'alice:bob', initiatorId: 'alice', otherId: 'bob', initiatorExists: true, otherExists: true, at }, chatDecider.initialState);
  if (!started.ok) throw new Error('StartChat refused');
  const state = chatDecider.evolve(chatDecider.initialState, started.events[0]!, { revision: 0, position: 1n });
  const sent = chatDecider.decide({ type: 'SendMessage', chatId: 'alice:bob', messageId: 'm1', senderId: 'alice', clientMessageId: 'c1', body: ' hi ', at }, state);
  if (!sent.ok) throw new Error('SendMessage refused');
  const withMessage = chatDecider.evolve(state, sent.events[0]!, { revision: 1, position: 2n });
  const edited = chatDecider.decide({ type: 'EditMessage', chatId: 'alice:bob', messageId: 'm1', editorId: 'alice', clientEditId: 'e1', body: 'hi!', at, editWindowMs: 60_000 }, withMessage);
  const deleted = chatDecider.decide({ type: 'DeleteMessage', chatId: 'alice:bob', messageId: 'm1', deleterId: 'alice', clientDeleteId: 'd1', at }, withMessage);
  if (!edited.ok || !deleted.ok) throw new Error('EditMessage or DeleteMessage refused');
  const events: ChatEvent[] = [...started.events, ...sent.events, ...edited.events, ...deleted.events];
  t.same(events.map((e) => e.type).sort(), [...CHAT_EVENT_TYPES].sort(), 'one event of every chat type');

  const rows = new Map([...section('### Event records').matchAll(/^\| `(\w+)` \| (\d+) \| [^|]+ \| ([^|]+) \|$/gm)].map((m) => [m[1]!, m]));
  t.same([...rows.keys()].sort(), [...CHAT_EVENT_TYPES].sort(), 'exactly the chat event types');
  for (const e of events) {
    const row = rows.get(e.type);
    if (!row) continue;
    t.equal(Number(row[2]), EVENT_VERSIONS[e.type], `${e.type}: the current version`);
    const documented = row[3]!.split(';').map((f) => /`(\w+)`/.exec(f)?.[1]).filter((f): f is string => f !== undefined);
    t.same(documented.sort(), Object.keys(e.data).sort(), `${e.type}: the data fields`);
  }
  t.equal(sent.events[0]?.type === 'MessageSent' ? sent.events[0].data.body : null, 'hi', 'the body is stored trimmed, as documented');
});

t.test('the settings table gives the code\'s defaults, for every setting', async (t) => {
  const table = section('## Settings');
  const covered = new Set<keyof WsConfig>(['allowedOrigins', 'sameHostOriginPorts']);
  for (const m of table.matchAll(/^\| (`WS_\w+`(?:, `WS_\w+`)*) \| ([^|]+) \|/gm)) {
    const names = [...m[1]!.matchAll(/`(WS_\w+)`/g)].map((x) => x[1]!);
    if (names.includes('WS_ALLOWED_ORIGINS')) continue;
    const defaults = [...m[2]!.matchAll(/`([^`]*)`/g)].map((x) => x[1]!);
    t.equal(defaults.length, names.length, `${names.join(', ')}: one default each`);
    names.forEach((name, i) => {
      // The documented default, read as the variable, must give the code's default.
      const { allowedOrigins: _o, ...ws } = loadConfig({ [name]: defaults[i] }).ws;
      const keys = Object.keys(ws) as Array<keyof WsConfig>;
      t.equal(keys.length, 1, `${name} sets one setting`);
      for (const k of keys) {
        covered.add(k);
        t.same(ws[k as keyof typeof ws], DEFAULT_WS_CONFIG[k], `${name}: documented default ${defaults[i]} is the code's`);
      }
    });
  }
  t.same([...covered].sort(), Object.keys(DEFAULT_WS_CONFIG).sort(), 'every setting has a row');
  t.same(DEFAULT_WS_CONFIG.allowedOrigins, [], 'a gateway on its own allows no browser origin');
  t.match(table, /^\| `WS_ALLOWED_ORIGINS` \| `chat start`: `HTTP_ALLOWED_ORIGINS` if set, else the web pages' own origins .*`gateways\/ws\/run.ts`: none \|/m,
    'the origins default says both: the service\'s fallback, and none for a gateway on its own');
});
