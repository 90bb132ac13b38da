/**
 * Last-resort handlers: an error nobody caught is logged (so it reaches the error log) instead of
 * vanishing. An uncaught exception leaves the process in an unknown state, so it then exits and
 * lets the supervisor restart it; an unhandled rejection is logged and the process goes on.
 */
import type { Logger } from './logger.js';

export function installProcessErrorHandlers(logger: Logger, beforeExit: () => Promise<void>): void {
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason instanceof Error ? reason : new Error(String(reason)) }, 'unhandled promise rejection');
  });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception; exiting');
    void beforeExit().finally(() => process.exit(1));
  });
}
