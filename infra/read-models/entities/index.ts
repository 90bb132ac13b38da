/** Every read-model entity, for MikroORM's discovery (an explicit list: no folder globbing, no decorators). */
import { ActivityEntity } from './activity-log.js';
import { ChatEntity } from './chats.js';
import { DeadLetterEntity } from './dead-letters.js';
import { ErrorLogEntity } from './error-log.js';
import { MessageChangeEntity, MessageEntity } from './messages.js';
import { CountedMessageEntity, MessageCountEntity } from './message-counts.js';
import { CheckpointEntity } from './projection-checkpoints.js';
import { ReadPositionEntity, UnreadMessageEntity } from './reads.js';
import { InboxEntity } from './projection-inbox.js';
import { UserEntity } from './users.js';

export const READ_MODEL_ENTITIES = [
  UserEntity,
  ChatEntity,
  MessageEntity,
  MessageChangeEntity,
  ActivityEntity,
  MessageCountEntity,
  CountedMessageEntity,
  ReadPositionEntity,
  UnreadMessageEntity,
  InboxEntity,
  CheckpointEntity,
  DeadLetterEntity,
  ErrorLogEntity,
] as const;
