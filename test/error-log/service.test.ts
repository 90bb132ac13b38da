// The composition root wires the error log's drop counter into the registry GET /metrics serves.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { startService } from '../../gateways/service/start-service.js';
import { loadConfig } from '../../infra/config.js';

t.test('GET /metrics reports error_log_dropped_total', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-errlog-svc-'));
  const config = loadConfig({ DATA_DIR: dir, HTTP_PORT: '0', LOG_LEVEL: 'silent' });
  const svc = await startService(config, 'api');
  t.teardown(async () => {
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const res = await fetch(`${svc.url!}/metrics`);
  t.equal(res.status, 200);
  const text = await res.text();
  t.match(text, /error_log_dropped_total\{reason="refused"\} 0/);
  t.match(text, /error_log_dropped_total\{reason="overflow"\} 0/);
  t.match(text, /http_request_duration_seconds/, 'in the same registry as the HTTP metrics');
});
