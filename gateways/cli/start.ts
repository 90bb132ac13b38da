import type { Command } from 'commander';
import { loadConfig } from '../../infra/config.js';
import { createLogger } from '../../infra/logger.js';
import { openRuntime } from '../../infra/runtime.js';
import { CliInputError } from './shared.js';

const ROLES = ['all', 'api', 'relay', 'projector', 'gateway'] as const;

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('run the service (embedded store by default; DATABASE_URL / EVENTSTORE_URL pick the real ones)')
    .option('--role <role>', `one of ${ROLES.join(', ')}`, 'all')
    .action(async (opts: { role: string }) => {
      if (!(ROLES as readonly string[]).includes(opts.role)) {
        throw new CliInputError(`--role must be one of ${ROLES.join(', ')}`);
      }
      const config = loadConfig();
      const logger = createLogger({ level: config.logLevel, name: `chat-${opts.role}` });
      const rt = await openRuntime(config, logger);
      logger.info({ role: opts.role, dataDir: config.dataDir, head: String(await rt.store.headPosition()) }, 'chat service started');
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => { logger.info({ signal }, 'shutting down'); resolve(); };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await rt.close();
    });
}
