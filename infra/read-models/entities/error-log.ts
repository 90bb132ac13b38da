import { EntitySchema } from '@mikro-orm/core';

/**
 * error_log: error-level log lines of every process (written by infra/error-log/destination.ts).
 * `level` is pino's number (50 error, 60 fatal). On SQLite `at` holds epoch milliseconds and
 * `context` JSON text, as MikroORM stores them there.
 */
export interface ErrorLogRow extends ErrorLogLine {
  id: bigint;
}

/** A line's columns, as the destination writes them and the query returns them (with the id). */
export interface ErrorLogLine {
  at: Date;
  level: number;
  process: string;
  context: Record<string, unknown> | null;
  message: string;
  stack: string | null;
}

export const ErrorLogEntity = new EntitySchema<ErrorLogRow>({
  name: 'ErrorLogRow',
  tableName: 'error_log',
  properties: {
    id: { type: 'bigint', primary: true, autoincrement: true },
    at: { type: 'datetime' },
    level: { type: 'integer' },
    process: { type: 'string' },
    context: { type: 'json', nullable: true },
    message: { type: 'text' },
    stack: { type: 'text', nullable: true },
  },
});
