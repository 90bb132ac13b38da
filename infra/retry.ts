/**
 * Retrying, in one place for infra/: p-retry does the retrying and node:timers/promises the waiting.
 * As in Emmett, a caller hands the library's own options through, plus shouldRetryError; each use keeps
 * its defaults in a named constant next to it.
 */
import { setTimeout as delay } from 'node:timers/promises';
import pRetry, { AbortError, type Options, type RetryContext } from 'p-retry';

export type RetryOptions = Omit<Options, 'shouldRetry' | 'onFailedAttempt'> & {
  /** Errors that are worth another attempt; default all. */
  shouldRetryError?: (error: unknown) => boolean;
  /** Called with the error as thrown (not p-retry's wrapper) before each wait. */
  onFailedAttempt?: (context: { error: unknown; attemptNumber: number; retriesLeft: number }) => void | Promise<void>;
};

export const NO_RETRIES: RetryOptions = { retries: 0 };

/** Until stopped: for connections that must come back whatever the outage (pass `signal` to end it). */
export const FOREVER: RetryOptions = { retries: Number.POSITIVE_INFINITY, factor: 2, minTimeout: 100, maxTimeout: 2_000, randomize: true };

/** p-retry gives up at once on a TypeError (it takes it for a bug): carried in this, any error is retried as asked. */
class Attempt extends Error {
  constructor(readonly thrown: unknown) {
    super(errorText(thrown));
  }
}

/**
 * Runs fn until it resolves, shouldRetryError says no, the retries run out, or the signal aborts; rejects
 * with the error fn last threw (or the signal's reason).
 */
export async function retry<T>(fn: (attemptNumber: number) => Promise<T>, opts: RetryOptions = NO_RETRIES): Promise<T> {
  const { shouldRetryError, onFailedAttempt, ...options } = opts;
  try {
    return await pRetry(async (attemptNumber) => {
      try {
        return await fn(attemptNumber);
      } catch (err) {
        if (shouldRetryError && !shouldRetryError(err)) throw new AbortError(new Attempt(err));
        throw new Attempt(err);
      }
    }, {
      ...options,
      onFailedAttempt: async (c: RetryContext) => {
        // p-retry checks the signal again once an attempt returns, and a stop that came meanwhile fails
        // it after the fact: that is the end of the retrying, not a failed attempt to report.
        if (options.signal?.aborted) return;
        await onFailedAttempt?.({ error: thrownBy(c.error), attemptNumber: c.attemptNumber, retriesLeft: c.retriesLeft });
      },
    });
  } catch (err) {
    throw thrownBy(err);
  }
}

const thrownBy = (err: unknown): unknown => (err instanceof Attempt ? err.thrown : err);

export interface BackoffOptions {
  minMs: number;
  maxMs: number;
}

/**
 * The delay before attempt `attempt` (0-based) of the loops that cannot hand their attempts to retry()
 * (they interleave them with other state: the broker connection's node rotation, the relay's leadership,
 * the consumer's held batch). "Equal jitter": half the capped exponential delay plus a random share of the
 * other half, so a fleet that lost the broker at once does not reconnect in lockstep.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const capped = Math.min(opts.maxMs, opts.minMs * 2 ** Math.min(attempt, 30));
  return Math.round(capped / 2 + Math.random() * (capped / 2));
}

/** Resolves after `ms`, or at once when the signal aborts: never rejects, so callers re-check their state. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(ms, undefined, signal ? { signal } : undefined).catch(() => undefined);
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
