/**
 * The shape of a read-model projection: one module per projection in projections/. A projection
 * holds only its own logic; the runtime (projections/runtime/) feeds it in order, batches, records
 * the inbox and checkpoint in the same transaction, retries, parks poison events and rebuilds.
 *
 * Rules for a projection (docs/projections.md):
 * - apply must be idempotent and commutative per row: the runtime guarantees exactly-once effect
 *   through its inbox, but a rebuild or a redelivery in another order must still converge
 *   (guard updates by stream revision, use upserts keyed by natural ids).
 * - never throw on bad data you can detect: return normally; throw only for data you cannot apply,
 *   and the runtime parks the event as a dead letter with the error.
 */
import type { EntityManager, EntitySchema } from '@mikro-orm/core';
import type { PublicEvent } from '../domain/public-event.js';

export interface ProjectionEvent<E extends PublicEvent = PublicEvent> {
  id: string;
  streamId: string;
  revision: number;
  position: bigint;
  createdAt: Date;
  event: E;
}

export interface SqlProjection {
  name: string;
  /** Bump when apply changes meaning: the runtime then rebuilds the projection from the log. */
  version: number;
  handles: ReadonlyArray<PublicEvent['type']>;
  /** The tables this projection owns (entity schemas without decorators). */
  entities: ReadonlyArray<EntitySchema<any>>;
  apply(em: EntityManager, e: ProjectionEvent): Promise<void>;
}
