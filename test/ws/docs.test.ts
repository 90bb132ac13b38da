// docs/websocket.md prints the JSON schema of every frame; this keeps it equal to the code's
// (gateways/ws/protocol.ts), and its error-code table equal to the codes the gateway can send.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { DOMAIN_ERRORS } from '../../domain/errors.js';
import { FRAME_SCHEMAS, WS_ERRORS } from '../../gateways/ws/protocol.js';
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
  const sendable = [...Object.keys(WS_ERRORS), 'CHAT_NOT_FOUND', 'NOT_A_PARTICIPANT', 'MESSAGE_EMPTY', 'MESSAGE_TOO_LONG', 'CLIENT_MESSAGE_ID_INVALID'];
  for (const code of sendable) t.ok(listed.has(code), `${code} is documented`);
  for (const code of listed) t.ok(code in WS_ERRORS || code in DOMAIN_ERRORS, `${code} is a real code`);
});
