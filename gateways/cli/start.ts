import { Option, type Command } from 'commander';
import { loadConfig } from '../service/config.js';
import { ROLES, type Role } from '../service/roles.js';
import { installProcessErrorHandlers, startService } from '../service/start-service.js';
import { CliInputError } from './shared.js';

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('run the service (embedded store by default; DATABASE_URL, REDIS_URL, AMQP_URL, EVENTSTORE_URL pick the real services)')
    .addOption(new Option('--role <role>', 'the part of the service this process runs').choices(ROLES).default('all'))
    .action(async (opts: { role: Role }) => {
      const config = loadConfig();
      if (opts.role !== 'all' && config.eventStore.kind === 'embedded') {
        throw new CliInputError(`--role ${opts.role} needs shared services (DATABASE_URL at least); the embedded default runs as --role all`);
      }
      const service = await startService(config, opts.role);
      let stopping: Promise<void> | null = null;
      const shutdown = (signal: string) => {
        stopping ??= (async () => {
          service.logger.info({ signal }, 'shutting down');
          await service.stop();
          service.logger.info('stopped');
        })();
        return stopping;
      };
      installProcessErrorHandlers(service.logger, () => shutdown('uncaughtException'));
      service.logger.info({ role: opts.role, eventStore: config.eventStore.kind, url: service.url }, 'chat service started');
      // For a person at a terminal; a log shipper reading stdout gets JSON lines only (the line above has the URL).
      if (service.url && process.stdout.isTTY) process.stdout.write(`\nSimple Chat is running: open ${service.url}/ (API docs at ${service.url}/docs)\n\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => void shutdown('SIGINT').then(resolve));
        process.once('SIGTERM', () => void shutdown('SIGTERM').then(resolve));
      });
    });
}
