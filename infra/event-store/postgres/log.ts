/** How the PostgreSQL store reports what it recovers from (a lost connection, a failed read or batch). */
export interface PostgresEventStoreLogger {
  warn(obj: object, msg?: string): void;
}

/** Used when the caller passes no logger: one JSON line per warning on stderr. */
export const stderrLogger: PostgresEventStoreLogger = {
  warn(obj, msg) {
    process.stderr.write(`${JSON.stringify({ level: 'warn', component: 'postgres-event-store', msg, ...obj })}\n`);
  },
};

/** An error's message and PostgreSQL code, fit for a log line. */
export function errorInfo(err: unknown): { err: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? { err: err.message, code } : { err: err.message };
  }
  return { err: String(err) };
}
