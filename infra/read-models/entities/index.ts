/**
 * Every read-model entity, for MikroORM's discovery (an explicit list: no folder globbing, no
 * decorators): the tables each projection declares beside its code, then the runtime's own.
 */
import { SQL_PROJECTIONS } from '../../../projections/index.js';
import { DeadLetterEntity } from './dead-letters.js';
import { ErrorLogEntity } from './error-log.js';
import { CheckpointEntity } from './projection-checkpoints.js';
import { InboxEntity } from './projection-inbox.js';

export const READ_MODEL_ENTITIES = [
  ...SQL_PROJECTIONS.flatMap((p) => p.entities),
  InboxEntity,
  CheckpointEntity,
  DeadLetterEntity,
  ErrorLogEntity,
] as const;
