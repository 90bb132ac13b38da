/**
 * A token bucket per socket: two numbers on the connection, refilled lazily on use, so an idle
 * socket costs nothing and no timer runs per socket.
 */
export interface Bucket {
  tokens: number;
  /** performance.now() of the last refill. */
  refilledAt: number;
}

export function newBucket(burst: number, now: number): Bucket {
  return { tokens: burst, refilledAt: now };
}

/** Takes one token; false when the bucket is empty (the frame must be refused). */
export function take(bucket: Bucket, ratePerSec: number, burst: number, now: number): boolean {
  const elapsed = now - bucket.refilledAt;
  if (elapsed > 0) {
    bucket.tokens = Math.min(burst, bucket.tokens + (elapsed * ratePerSec) / 1000);
    bucket.refilledAt = now;
  }
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}
