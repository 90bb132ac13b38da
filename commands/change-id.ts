/**
 * Event ids of edits and deletes, derived like message ids (message-id.ts): a retried edit is the same
 * event, which the store refuses to hold twice even after the chat's de-duplication window forgot it.
 * A message is deleted at most once, so its delete's id depends on the message alone.
 */
import { v5 as uuidv5 } from 'uuid';

/** Fixed forever, like message-id.ts's: changing it changes every id. */
const NAMESPACE = 'a3e0c6d1-5b7f-4f42-9c18-2d6e8b4f7a90';

export const editIdFor = (chatId: string, messageId: string, clientEditId: string): string =>
  uuidv5(Buffer.from(`edit\u0000${chatId}\u0000${messageId}\u0000${clientEditId}`, 'utf8'), NAMESPACE);

export const deleteIdFor = (chatId: string, messageId: string): string =>
  uuidv5(Buffer.from(`delete\u0000${chatId}\u0000${messageId}`, 'utf8'), NAMESPACE);
