import { EntitySchema } from '@mikro-orm/core';

/**
 * projection_checkpoints: the highest log position each projection has processed, its code version,
 * and the position its last rebuild went through (every event at or below it is applied, so the
 * inbox need not remember them).
 */
export interface CheckpointRow {
  projection: string;
  position: bigint;
  version: number;
  updatedAt: Date;
  rebuiltThrough: bigint;
}

export const CheckpointEntity = new EntitySchema<CheckpointRow>({
  name: 'CheckpointRow',
  tableName: 'projection_checkpoints',
  properties: {
    projection: { type: 'string', primary: true },
    position: { type: 'bigint' },
    version: { type: 'integer' },
    updatedAt: { type: 'datetime', fieldName: 'updated_at' },
    rebuiltThrough: { type: 'bigint', fieldName: 'rebuilt_through', default: 0 },
  },
});
