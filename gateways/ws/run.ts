/**
 * One WebSocket gateway process on the PostgreSQL store, configured from the environment like
 * production (DATABASE_URL, DATABASE_SCHEMA, REDIS_URL, REDIS_KEY_PREFIX, LOG_LEVEL and the WS_*
 * variables of infra/config.ts). Tests and the benchmark spawn it with `node --import tsx gateways/ws/run.ts`;
 * it logs JSON lines to stdout, among them `ws gateway listening` with the port. SIGTERM or SIGINT
 * closes it gracefully. The wiring is gateways/service/ws-process.ts.
 */
import { loadConfig } from '../service/config.js';
import { runGatewayProcess } from '../service/ws-process.js';

await runGatewayProcess(loadConfig());
