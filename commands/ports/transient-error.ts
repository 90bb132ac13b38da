/**
 * Part of the adapters' contract: which of their failures are the infrastructure's, worth retrying
 * (the consumer) or answering 503 (the HTTP API), whichever adapter threw them.
 *
 * Tells a failure of the infrastructure (database unreachable, restarting, overloaded, a deadlock)
 * from a failure of the record itself. The consumer retries the first kind without counting it
 * against the message: otherwise a five-second database restart would burn through every message's
 * delivery limit and park perfectly good events. Works on pg errors (SQLSTATE in `code`), Node socket
 * errors (errno names) and MikroORM's wrappers (which copy `code` and keep the class name).
 */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** SQLSTATEs worth retrying; classes 08 (connection) and 53 (resources) are matched by prefix below. */
const SQLSTATES = new Set(['40001', '40P01', '55P03', '57P01', '57P02', '57P03', '57014', '58000', '58030']);
const CLASS_NAMES = new Set(['ConnectionException', 'DeadlockException', 'LockWaitTimeoutException']);
const MESSAGES = [/connection terminated/i, /timeout exceeded when trying to connect/i, /connection error/i, /Client was closed/i, /pool is (ending|closed)/i];

export function isTransientError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    if (typeof e !== 'object') break;
    const { code, name, message, cause } = e as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === 'string') {
      if (SOCKET_CODES.has(code) || SQLSTATES.has(code) || code.startsWith('08') || code.startsWith('53')) return true;
    }
    if (typeof name === 'string' && CLASS_NAMES.has(name)) return true;
    if (typeof message === 'string' && MESSAGES.some((m) => m.test(message))) return true;
    e = cause;
  }
  return false;
}
