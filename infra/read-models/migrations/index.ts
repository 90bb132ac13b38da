/** The read-model migrations, in order. Listed inline: no folder scanning at run time. */
import type { MigrationObject } from '@mikro-orm/core';
import { Migration0001Initial } from './0001-initial.js';
import { Migration0002MessageCounts } from './0002-message-counts.js';

export const READ_MODEL_MIGRATIONS: MigrationObject[] = [
  { name: '0001-initial', class: Migration0001Initial },
  { name: '0002-message-counts', class: Migration0002MessageCounts },
];
