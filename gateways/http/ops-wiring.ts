/**
 * Adapters from the projection status (projections/runtime/status.ts) to what the HTTP app takes:
 * the lag feed behind /metrics and a readiness check behind /readyz. The composition root decides
 * whether to use them; the app itself only sees functions.
 */
import type { ProjectionStatus } from '../../projections/runtime/status.js';
import type { OptionalReadinessCheck, ReadinessCheck } from './deps.js';
import type { ProjectionLag } from './metrics.js';

export function projectionLagFeed(status: () => Promise<ProjectionStatus[]>): () => Promise<ProjectionLag[]> {
  return async () => (await status()).map((s) => ({ projection: s.projection, events: s.lagEvents, seconds: s.lagSeconds }));
}

/**
 * Not ready while any projection is stalled (behind and not moving) or built by another version of
 * its code; a projection that is merely lagging keeps the process ready, since it is catching up.
 */
export function projectionsReadiness(status: () => Promise<ProjectionStatus[]>): ReadinessCheck {
  return async () => {
    const bad = (await status()).filter((s) => s.verdict === 'stalled' || s.needsRebuild);
    if (bad.length > 0) {
      throw new Error(bad.map((s) => `${s.projection} ${s.needsRebuild ? 'needs a rebuild' : `stalled ${s.lagEvents} events behind`}`).join('; '));
    }
  };
}

/** Marks a check whose failure leaves the instance serving, in a degraded way (see OptionalReadinessCheck). */
export function degradesOnly(check: ReadinessCheck): OptionalReadinessCheck {
  return { check, required: false };
}
