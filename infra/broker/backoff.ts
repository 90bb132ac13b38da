/**
 * Capped exponential backoff with jitter, and a sleep that an AbortSignal cuts short. Jitter keeps a
 * fleet of processes that lost the broker at the same moment from reconnecting in lockstep.
 */
export interface BackoffOptions {
  minMs: number;
  maxMs: number;
}

/** "Equal jitter": half the capped exponential delay, plus a random share of the other half. */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const capped = Math.min(opts.maxMs, opts.minMs * 2 ** Math.min(attempt, 30));
  return Math.round(capped / 2 + Math.random() * (capped / 2));
}

/** Resolves after `ms`, or at once when the signal aborts (never rejects: callers re-check their state). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
