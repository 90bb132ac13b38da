/**
 * The Config, as the gateways outside gateways/service/ see it: loaded and validated by
 * infra/config.ts, the one reader of the environment. Light on purpose: the CLI imports it at start.
 */
import { loadConfig, type Config } from '../../infra/config.js';

export { ConfigError, loadConfig, type Config } from '../../infra/config.js';

/** A CLI tool's Config: it logs at warn unless LOG_LEVEL says otherwise (its stdout is data, its stderr the log). */
export const toolConfig = (): Config => loadConfig(undefined, { LOG_LEVEL: 'warn' });
