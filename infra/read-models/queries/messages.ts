/** A chat's history, newest first, paged backwards by stream revision (`before`). */
import { MessageEntity } from '../entities/messages.js';
import { emOf, type ReadModelOrm } from '../orm.js';
import { InvalidQueryError, clampLimit } from './page.js';

/** Revisions are PostgreSQL integers (int4). */
export const MAX_REVISION = 2_147_483_647;

export interface HistoryQuery {
  chatId: string;
  /** Only messages with a revision below this one (the previous page's nextBefore). */
  before?: number;
  limit?: number;
}

export interface MessageEntry {
  chatId: string;
  revision: number;
  messageId: string;
  senderId: string;
  clientMessageId: string;
  body: string;
  sentAt: Date;
  /** When last edited (null: never); body is the edited text. */
  editedAt: Date | null;
  /** Deleted for everyone: body is ''. */
  deleted: boolean;
}

export interface HistoryPage {
  items: MessageEntry[];
  /** Pass as `before` for older messages; null at the start of the chat. */
  nextBefore: number | null;
}

export async function chatHistory(orm: ReadModelOrm, q: HistoryQuery): Promise<HistoryPage> {
  const limit = clampLimit(q.limit);
  if (q.before !== undefined && (!Number.isInteger(q.before) || q.before < 0 || q.before > MAX_REVISION)) throw new InvalidQueryError('before must be a revision', 'before');
  const rows = await emOf(orm).find(
    MessageEntity,
    q.before === undefined ? { chatId: q.chatId } : { chatId: q.chatId, revision: { $lt: q.before } },
    { orderBy: { revision: 'desc' }, limit: limit + 1 },
  );
  const more = rows.length > limit;
  const items = (more ? rows.slice(0, limit) : rows).map((r) => ({
    chatId: r.chatId, revision: r.revision, messageId: r.messageId, senderId: r.senderId,
    clientMessageId: r.clientMessageId, body: r.body, sentAt: r.sentAt, editedAt: r.editedAt ?? null, deleted: r.deletedAt != null,
  }));
  return { items, nextBefore: more ? items[items.length - 1]!.revision : null };
}
