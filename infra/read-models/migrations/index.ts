/** The read-model migrations, in order. Listed inline: no folder scanning at run time. */
import type { MigrationObject } from '@mikro-orm/core';
import { Migration0001Initial } from './0001-initial.js';
import { Migration0002MessageCounts } from './0002-message-counts.js';
import { Migration0003Reads } from './0003-reads.js';
import { Migration0004MessageChanges } from './0004-message-changes.js';
import { Migration0005UnreadDeleted } from './0005-unread-deleted.js';
import { Migration0006ChatPreviewChanges } from './0006-chat-preview-changes.js';
import { Migration0007UsersErased } from './0007-users-erased.js';

export const READ_MODEL_MIGRATIONS: MigrationObject[] = [
  { name: '0001-initial', class: Migration0001Initial },
  { name: '0002-message-counts', class: Migration0002MessageCounts },
  { name: '0003-reads', class: Migration0003Reads },
  { name: '0004-message-changes', class: Migration0004MessageChanges },
  { name: '0005-unread-deleted', class: Migration0005UnreadDeleted },
  { name: '0006-chat-preview-changes', class: Migration0006ChatPreviewChanges },
  { name: '0007-users-erased', class: Migration0007UsersErased },
];
