// DATA_KEY_ENCRYPTION_KEY(_PREVIOUS): 32 bytes of base64, validated at start without echoing the value;
// DATA_CIPHER: one of the two ciphers, AES-256-GCM unless set.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { ConfigError, loadConfig } from '../../infra/config.js';

t.test('the KEK settings', async (t) => {
  t.same(loadConfig({}).dataKeyEncryption, { current: undefined, previous: undefined, cipher: 'aes-256-gcm' }, 'unset: the embedded default generates one');
  const key = randomBytes(32);
  const old = randomBytes(32);
  const c = loadConfig({ DATA_KEY_ENCRYPTION_KEY: key.toString('base64'), DATA_KEY_ENCRYPTION_KEY_PREVIOUS: old.toString('base64') });
  t.same(c.dataKeyEncryption.current, key);
  t.same(c.dataKeyEncryption.previous, old);
  for (const bad of [randomBytes(16).toString('base64'), randomBytes(33).toString('base64'), 'not base64 at all!', randomBytes(32).toString('hex')]) {
    t.throws(() => loadConfig({ DATA_KEY_ENCRYPTION_KEY: bad }), ConfigError, `refused: ${bad.length} characters`);
    try {
      loadConfig({ DATA_KEY_ENCRYPTION_KEY: bad });
    } catch (err) {
      t.match((err as Error).message, /DATA_KEY_ENCRYPTION_KEY must be 32 bytes in base64/);
      t.notOk((err as Error).message.includes(bad), 'the value is not echoed');
    }
  }
});

t.test('DATA_CIPHER', async (t) => {
  t.equal(loadConfig({ DATA_CIPHER: 'aes-256-gcm' }).dataKeyEncryption.cipher, 'aes-256-gcm');
  t.equal(loadConfig({ DATA_CIPHER: 'xchacha20-poly1305' }).dataKeyEncryption.cipher, 'xchacha20-poly1305');
  t.throws(() => loadConfig({ DATA_CIPHER: 'rot13' }), { name: 'ConfigError', message: /DATA_CIPHER must be one of aes-256-gcm, xchacha20-poly1305/ });
});
