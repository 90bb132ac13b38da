// The deployment kit, checked without a container engine: deploy/compose.yaml runs every role with
// the clustered services around it and sets every variable infra/config.ts reads; haproxy routes to
// the processes the compose file defines; the Dockerfile builds as docs promise (two stages, npm ci,
// not root, a health check).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { ROLES } from '../../gateways/service/roles.js';
import { CONFIG_VARIABLES } from '../../infra/config.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (rel: string): string => readFileSync(path.join(ROOT, rel), 'utf8');

interface Service {
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | number | boolean | null>;
  healthcheck?: { disable?: boolean; test?: string[] };
}
const compose = parse(read('deploy/compose.yaml'), { merge: true }) as { services: Record<string, Service> };
const services = Object.entries(compose.services);

/** Every variable name infra/config.ts reads: the properties of its environment schema. */
const configVariables = (): string[] => [...CONFIG_VARIABLES].sort();

const roleOf = (s: Service): string | null => {
  const c = s.command ?? [];
  const i = c.indexOf('--role');
  return c[0] === 'start' && i >= 0 ? c[i + 1] ?? null : null;
};
const chatServices = services.filter(([, s]) => roleOf(s) !== null);

t.test('every role runs, as many times as the topology needs', async (t) => {
  const count = (role: string) => chatServices.filter(([, s]) => roleOf(s) === role).length;
  for (const role of ROLES.filter((r) => r !== 'all')) t.ok(count(role) >= 1, `role ${role} runs`);
  t.equal(count('api'), 2, 'two APIs behind haproxy');
  t.equal(count('gateway'), 2, 'two gateways behind haproxy');
  t.equal(count('relay'), 2, 'two relays: a leader and a standby');
  t.equal(count('projector'), 2, 'two projectors');
  t.equal(count('all'), 0, 'no single-process role in the cluster');
});

t.test('the clustered services around them', async (t) => {
  const byImage = (prefix: string) => services.filter(([, s]) => s.image?.startsWith(prefix));
  t.equal(byImage('rabbitmq:').length, 3, 'three RabbitMQ nodes');
  t.equal(byImage('postgres:').length, 2, 'PostgreSQL primary and streaming replica');
  const redis = byImage('redis:');
  const sentinels = redis.filter(([, s]) => (s.entrypoint ?? []).join(' ').includes('sentinel'));
  t.equal(sentinels.length, 3, 'three sentinels');
  t.equal(redis.length - sentinels.length, 2, 'Redis primary and replica');
  t.ok(redis.some(([, s]) => (s.command ?? []).includes('--replicaof')), 'the replica follows the primary');
  t.equal(byImage('haproxy:').length, 1, 'haproxy in front');
});

t.test('every variable infra/config.ts reads is set for every chat process', async (t) => {
  const variables = configVariables();
  t.ok(variables.length > 40, `${variables.length} variables found in infra/config.ts`);
  for (const name of ['DATABASE_URL', 'REDIS_SENTINELS', 'REDIS_SENTINEL_NAME', 'AMQP_URL', 'WS_PORT']) t.ok(variables.includes(name), `the scan finds ${name}`);
  for (const [name, s] of chatServices) {
    const missing = variables.filter((v) => !(v in (s.environment ?? {})));
    t.same(missing, [], `${name} sets (or deliberately leaves empty) every variable`);
  }
  // Documented: each variable's line in x-chat-env carries a comment saying what it does.
  const text = read('deploy/compose.yaml');
  const undocumented = variables.filter((v) => !new RegExp(`^\\s+${v}: .*#\\s*\\S`, 'm').test(text));
  t.same(undocumented, [], 'every variable has a comment in deploy/compose.yaml');
  const sentinelsOf = (chatServices[0]![1].environment ?? {})['REDIS_SENTINELS'];
  for (const entry of String(sentinelsOf).split(',')) {
    t.ok(compose.services[entry.split(':')[0]!], `REDIS_SENTINELS names a service: ${entry}`);
  }
});

t.test('haproxy routes /ws to the gateways and the rest to the APIs, on the ports the processes listen on', async (t) => {
  const cfg = read('deploy/haproxy.cfg');
  const env = chatServices[0]![1].environment ?? {};
  const gateways = chatServices.filter(([, s]) => roleOf(s) === 'gateway').map(([n]) => n);
  const apis = chatServices.filter(([, s]) => roleOf(s) === 'api').map(([n]) => n);
  for (const g of gateways) t.match(cfg, new RegExp(`server ${g} ${g}:${env['WS_PORT']} check`), `gateway ${g} on WS_PORT`);
  for (const a of apis) t.match(cfg, new RegExp(`server ${a} ${a}:${env['HTTP_PORT']} check`), `api ${a} on HTTP_PORT`);
  t.match(cfg, new RegExp(`acl is_ws path ${env['WS_PATH']}\\b`), 'the WebSocket path is the gateways\' WS_PATH');
  t.match(cfg, /timeout tunnel/, 'upgraded sockets get a tunnel timeout, not the HTTP one');
  t.match(cfg, /option httpchk GET \/healthz/);
  t.equal(env['HTTP_TRUST_PROXY'], 'true', 'behind haproxy the API takes the client address from X-Forwarded-For');
});

t.test('health checks: the api on HTTP_PORT, the gateways on WS_PORT, none where no HTTP is served', async (t) => {
  for (const [name, s] of chatServices) {
    const role = roleOf(s);
    if (role === 'relay' || role === 'projector') t.equal(s.healthcheck?.disable, true, `${name}: no HTTP to check`);
    if (role === 'gateway') t.equal(String(s.environment?.['HEALTH_PORT']), String(s.environment?.['WS_PORT']), `${name}: checked on WS_PORT`);
    if (role === 'api') t.notOk(s.healthcheck, `${name}: the image's check (HTTP_PORT /healthz)`);
  }
});

t.test('the Dockerfile: two stages, npm ci, compiled at build, not root, a health check', async (t) => {
  const df = read('deploy/Dockerfile');
  t.match(df, /^FROM \S+ AS build$/m);
  t.match(df, /^FROM \S+ AS runtime$/m);
  t.match(df, /RUN npm ci/, 'npm ci runs prepare (bin/build.js) in the build stage');
  t.match(df, /npm prune --omit=dev/, 'no dev dependencies in the runtime');
  t.match(df, /^USER node$/m, 'runs as the unprivileged node user');
  t.match(df, /^HEALTHCHECK .*healthcheck\.mjs/m);
  t.match(df, /^ENTRYPOINT \["node", "bin\/chat\.js"\]$/m);
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; dependencies: Record<string, string>; devDependencies: Record<string, string> };
  t.equal(pkg.scripts['prepare'], 'node bin/build.js', 'prepare compiles to dist/');
  t.ok(pkg.dependencies['esbuild'], 'esbuild is a dependency, so prepare also runs on a production-only install');
  const installed = (JSON.parse(read('node_modules/yaml/package.json')) as { version: string }).version;
  t.equal(pkg.devDependencies['yaml'], installed, 'yaml is pinned at the installed version');
  t.match(read('deploy/healthcheck.mjs'), /HEALTH_PORT.*HTTP_PORT/);
});
