/**
 * One pino logger per process, passed down. Redaction paths are a second line of defence: secrets
 * should never be handed to the logger at all, but if one is, it is censored rather than written.
 */
import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'password', '*.password', 'passwordHash', '*.passwordHash', '*.*.passwordHash', 'data.passwordHash', 'event.data.passwordHash',
  'token', '*.token', 'sessionToken', '*.sessionToken',
  'req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', 'headers.authorization', 'headers.cookie',
];

export function createLogger(opts: { level: string; name?: string }, destination?: DestinationStream): Logger {
  return pino(
    {
      level: opts.level,
      base: { process: opts.name ?? 'chat', pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}
