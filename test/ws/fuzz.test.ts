// 10,000 hostile frames into one socket (random JSON, random text and bytes, frames of the right
// shape with wrong types, huge strings, text no store can hold (U+0000, unpaired surrogates) in chat
// ids, resume keys and bodies, sends the domain must refuse): each gets an error frame (or a
// resume's answer), or the connection is closed (1007/1008, or uWS dropping a frame that is not
// UTF-8 text or is over the payload limit), in which case the fuzzer reconnects and goes on. The
// gateway keeps serving another pair meanwhile, and nothing but that pair's messages is appended.
import fc from 'fast-check';
import t from 'tap';
import type { ServerFrame } from '../../gateways/ws/protocol.js';
import { hostileNumber, hostileText } from '../support/hostile-input.js';
import { connect, openFixture, range, sleep, type TestClient } from './support.js';

type Fuzz =
  | { kind: 'json'; text: string }
  | { kind: 'text'; text: string }
  | { kind: 'binary'; bytes: Uint8Array }
  | { kind: 'raw-bytes-as-text'; bytes: Uint8Array }
  | { kind: 'shaped'; text: string }
  | { kind: 'refused-send'; text: string }
  | { kind: 'resume'; text: string }
  | { kind: 'stray-send'; text: string }
  | { kind: 'oversize'; size: number };

const RUNS = 10_000;

t.test(`${RUNS} random frames: each answered or closed; nothing appended; others unaffected`, async (t) => {
  const fx = await openFixture();
  t.teardown(() => fx.close());
  const [alice, bob, carol, dave] = [await fx.user('alice'), await fx.user('bob'), await fx.user('carol'), await fx.user('dave')];
  const chatId = await fx.chat(alice, bob);
  const calm = await fx.chat(carol, dave);
  await fx.startGateway({ ratePerSec: 1_000_000, rateBurst: 1_000_000 });

  const anything = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 80 }), fc.constant(null));
  const hugeString = fc.integer({ min: 1000, max: 6_000 }).map((n) => 'h'.repeat(n));
  // Chat ids naming alice are the dangerous ones: they pass the membership check and reach the store.
  const unstorableChatIds = fc.constantFrom('alice:b\u0000', 'alice:\ud800', '\u0000:alice', 'alice:bo\udc00b', 'alice:\u0000', `${chatId}\u0000`);
  const chatIds = fc.oneof(
    fc.string({ maxLength: 40 }), fc.constantFrom('alice:zed', 'bob:carol', ':', 'a:b:c', 'alice:alice', `${chatId} `), hugeString,
    unstorableChatIds, hostileText, hostileText.map((s) => `alice:${s}`),
  );
  const shaped = fc.record({
    type: fc.oneof(fc.constantFrom('send', 'resume', 'event', 'ack', 'error', 'resumed', 'SEND', ''), anything),
    ref: fc.oneof(fc.string({ maxLength: 70 }), anything),
    chatId: fc.oneof(chatIds, anything),
    body: fc.oneof(fc.string({ maxLength: 50 }), hugeString, anything),
    clientMessageId: fc.oneof(fc.string({ maxLength: 70 }), anything),
    chats: fc.oneof(fc.dictionary(chatIds, fc.oneof(fc.integer({ min: -5, max: 1000 }), hostileNumber, anything), { maxKeys: 5 }), anything),
    extra: anything,
  }, { requiredKeys: [] }).map((o) => JSON.stringify(o));
  // Right shape, right chat, and still refused by the domain: empty body, too long, text no store can hold, or a bad clientMessageId.
  const refusedSend = fc.oneof(
    fc.constantFrom('', ' ', '\n\t ').map((body) => ({ body, clientMessageId: 'ok-id' })),
    fc.tuple(fc.string({ maxLength: 30 }), fc.constantFrom('\u0000', '\ud800', '\udfff', '\udbff\udbff'), fc.string({ maxLength: 30 }))
      .map(([a, bad, b]) => ({ body: `x${a}${bad}${b}`, clientMessageId: 'ok-id' })),
    fc.integer({ min: 4001, max: 15_000 }).map((n) => ({ body: 'y'.repeat(n), clientMessageId: 'ok-id' })),
    fc.oneof(fc.constant(''), fc.string({ minLength: 65, maxLength: 100 }), fc.constant('has space'), fc.constant('ünïcode'))
      .map((clientMessageId) => ({ body: 'hello', clientMessageId })),
  ).map((f) => JSON.stringify({ type: 'send', ref: 'refused', chatId, ...f }));
  // Valid shapes: a resume naming any chats (own, foreign, malformed, unknown), a send to a chat that is not the user's.
  const resume = fc.record({
    ref: fc.string({ minLength: 1, maxLength: 64 }),
    chats: fc.dictionary(fc.oneof(chatIds, fc.constant(chatId)), fc.integer({ min: -1, max: 5 }), { maxKeys: 6 }),
  }).map((f) => JSON.stringify({ type: 'resume', ...f }));
  const straySend = fc.record({ chatId: chatIds, body: fc.oneof(fc.string({ maxLength: 100 }), hostileText), clientMessageId: fc.string({ maxLength: 64 }) })
    .map((f) => JSON.stringify({ type: 'send', ref: 'stray', ...f }));
  const frames: fc.Arbitrary<Fuzz> = fc.oneof(
    { weight: 6, arbitrary: resume.map((text) => ({ kind: 'resume' as const, text })) },
    { weight: 6, arbitrary: straySend.map((text) => ({ kind: 'stray-send' as const, text })) },
    { weight: 20, arbitrary: fc.jsonValue().map((v) => ({ kind: 'json' as const, text: JSON.stringify(v) ?? 'null' })) },
    { weight: 10, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ kind: 'text' as const, text })) },
    { weight: 8, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ kind: 'binary' as const, bytes })) },
    { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 100 }).map((bytes) => ({ kind: 'raw-bytes-as-text' as const, bytes })) },
    { weight: 30, arbitrary: shaped.map((text) => ({ kind: 'shaped' as const, text })) },
    { weight: 10, arbitrary: refusedSend.map((text) => ({ kind: 'refused-send' as const, text })) },
    { weight: 1, arbitrary: fc.integer({ min: 16 * 1024 + 1, max: 40_000 }).map((size) => ({ kind: 'oversize' as const, size })) },
  );

  // The bystanders chat throughout.
  const c = await connect(fx.url(), { token: carol.token });
  const d = await connect(fx.url(), { token: dave.token });
  await c.resume({ [calm]: -1 });
  await d.resume({ [calm]: -1 });
  let chatting = true;
  let calmSent = 0;
  let bystanderError: string | null = null;
  const bystanders = (async () => {
    while (chatting) {
      const r = await c.send(calm, `still fine ${calmSent}`).catch((err: unknown) => ({ type: 'error' as const, code: String(err) }));
      if (r.type !== 'ack') {
        bystanderError = r.code;
        return;
      }
      calmSent++;
      await sleep(50);
    }
  })();
  t.teardown(() => { chatting = false; });

  const positionBefore = await fx.store.headPosition();
  let socket: TestClient = await connect(fx.url(), { token: alice.token });
  const tally = { errors: new Map<string, number>(), resumed: 0, closes: new Map<string, number>(), reconnects: 0 };
  const bump = (m: Map<string, number>, k: string): void => { m.set(k, (m.get(k) ?? 0) + 1); };
  // What ends the answer to one frame: a resumed, an ack (never expected), a watch's presence answer, or an
  // error, except one about one chat of a resume or a watch (those come before the resumed or presence).
  const typeOf = (fuzz: { text?: string }): unknown => {
    try {
      const v = JSON.parse(fuzz.text ?? '') as unknown;
      return typeof v === 'object' && v !== null ? (v as { type?: unknown }).type : undefined;
    } catch {
      return undefined;
    }
  };
  const terminalFor = (sent: unknown) => (f: ServerFrame): boolean =>
    (f.type === 'error' && (f.chatId === undefined || (sent !== 'resume' && sent !== 'watch')))
    || f.type === 'resumed' || f.type === 'ack' || (sent === 'watch' && f.type === 'presence' && f.ref !== undefined);

  const started = Date.now();
  await fc.assert(fc.asyncProperty(frames, async (fuzz) => {
    if (socket.isClosed) {
      socket = await connect(fx.url(), { token: alice.token });
      tally.reconnects++;
    }
    const from = socket.frames.length;
    const answer = socket.waitFor(terminalFor('text' in fuzz ? typeOf(fuzz) : undefined), 10_000, from).then((f) => ({ frame: f }), () => null);
    switch (fuzz.kind) {
      case 'binary': socket.raw(Buffer.from(fuzz.bytes), true); break;
      case 'raw-bytes-as-text': socket.raw(Buffer.from(fuzz.bytes), false); break;
      case 'oversize': socket.raw(JSON.stringify({ type: 'send', chatId, body: 'z'.repeat(fuzz.size), clientMessageId: 'x' })); break;
      default: socket.raw(fuzz.text);
    }
    const got = await answer;
    if (got) {
      const f = got.frame;
      if (f.type === 'ack') throw new Error(`a fuzz frame was accepted: ${JSON.stringify(fuzz).slice(0, 200)}`);
      if (f.type === 'error') bump(tally.errors, f.code);
      else tally.resumed++;
      return;
    }
    // No answer: only acceptable as a close, and only of the kinds uWS drops (or a policy close).
    const closed = await Promise.race([socket.closed, sleep(1000).then(() => null)]);
    if (!closed) throw new Error(`no answer and no close for ${JSON.stringify(fuzz).slice(0, 200)}`);
    bump(tally.closes, `${fuzz.kind}:${closed.code}`);
    const size = 'text' in fuzz ? Buffer.byteLength(fuzz.text) : 'size' in fuzz ? fuzz.size : 0;
    const allowed = closed.code === 1007 || closed.code === 1008
      || (closed.code === 1006 && (fuzz.kind === 'raw-bytes-as-text' || size > 16 * 1024));
    if (!allowed) throw new Error(`closed with ${closed.code} after ${JSON.stringify(fuzz).slice(0, 200)}`);
  }), { numRuns: RUNS });
  const took = Date.now() - started;

  chatting = false;
  await bystanders;
  t.equal(bystanderError, null, 'every bystander send was acked');
  await d.until('dave got every bystander message', () => d.lastRevision(calm) === calmSent);
  t.same(d.revisionsOf(calm), range(0, calmSent), `the bystanders' ${calmSent} messages all arrived, in order, during the fuzz`);

  // Nothing but the bystanders' messages reached the log.
  const appended = await fx.store.readAll({ after: positionBefore, maxCount: 100_000 });
  t.ok(appended.every((e) => e.streamId === `chat-${calm}`), 'only the bystanders\' messages were appended');
  t.equal(appended.length, calmSent, 'exactly them');
  t.same((await fx.store.readStream(`chat-${chatId}`)).map((e) => e.type), ['ChatStarted'], 'the fuzzed chat holds nothing new');
  t.same(socket.invalid, [], 'every answer matched its schema');
  t.ok(took < 60_000, `${RUNS} frames in ${took} ms`);
  t.comment(JSON.stringify({ errors: Object.fromEntries(tally.errors), resumed: tally.resumed, closes: Object.fromEntries(tally.closes), reconnects: tally.reconnects }));
  t.ok((tally.errors.get('VALIDATION_FAILED') ?? 0) > 1000 && (tally.errors.get('BAD_REQUEST') ?? 0) > 500, 'validation and parse errors were exercised');
  // Sends to a foreign chat are about 0.2% of the frames (some 20 of 10,000): "more than 10" failed once in CI by chance.
  t.ok(tally.resumed > 100 && (tally.errors.get('NOT_A_PARTICIPANT') ?? 0) > 0 && (tally.errors.get('CHAT_NOT_FOUND') ?? 0) > 100, 'resumes and sends to foreign or unknown chats were exercised');
  t.ok((tally.errors.get('MESSAGE_TOO_LONG') ?? 0) > 0 && (tally.errors.get('CLIENT_MESSAGE_ID_INVALID') ?? 0) > 0 && (tally.errors.get('MESSAGE_EMPTY') ?? 0) > 0
    && (tally.errors.get('MESSAGE_INVALID_CHARACTERS') ?? 0) > 0, 'the domain refusals were exercised');
  // One frame at a time never fills the gateway, so an outage or a bug is all these could mean.
  t.same([tally.errors.get('INTERNAL') ?? 0, tally.errors.get('SERVICE_UNAVAILABLE') ?? 0], [0, 0], 'no frame was answered as a failure of ours');
  await socket.close();
  await c.close();
  await d.close();
});
