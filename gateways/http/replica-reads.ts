/**
 * History reads from a streaming replica (DATABASE_READ_URL), with read-your-writes: the API
 * remembers, per user and chat, the revision the user's last send reached; a newest page from the
 * replica that does not reach it (the replica is behind) is read again from the primary. A replica
 * that fails is skipped for a few seconds and the primary answers. Everything else (the event store,
 * every write, the other read models) stays on the primary.
 *
 * The memory is per API process and covers sends through this API: with several APIs behind a
 * round-robin balancer, or a send over the WebSocket gateway, the next read may reach a process that
 * did not see the send. It then serves the replica's page, as fresh as replication lag allows
 * (milliseconds normally). docs/scaling.md says how to close that gap.
 */
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { ApiError } from './errors.js';
import type { HttpReadModels, MessageView } from './read-port.js';

export interface ReplicaReadsOptions {
  primary: HttpReadModels;
  replica: HttpReadModels;
  logger: Logger;
  /** How long a failed replica is left alone before it is tried again. */
  retryAfterMs?: number;
  /** Users × chats whose last send is remembered; the oldest are forgotten first. */
  remember?: number;
}

export type HistorySource = 'replica' | 'primary';

export interface ReplicaReads {
  /** Notes that the user's send reached `revision` in the chat. */
  wrote(userId: string, chatId: string, revision: number): void;
  /** The history page for this user: the replica's when it is recent enough for them, else the primary's. */
  history(userId: string, q: { chatId: string; before?: number; limit: number }): Promise<{ messages: MessageView[]; source: HistorySource }>;
  /** Counters for tests and metrics. */
  stats(): { replica: number; primary: number; replicaBehind: number; replicaFailed: number };
}

export function replicaReads(opts: ReplicaReadsOptions): ReplicaReads {
  const retryAfterMs = opts.retryAfterMs ?? 2_000;
  const written = new LRUCache<string, number>({ max: opts.remember ?? 100_000 });
  const counts = { replica: 0, primary: 0, replicaBehind: 0, replicaFailed: 0 };
  let skipReplicaUntil = 0;
  let lastWarnAt = 0;
  const key = (userId: string, chatId: string): string => `${userId}\u0000${chatId}`;

  const fromPrimary = async (q: { chatId: string; before?: number; limit: number }) => {
    counts.primary += 1;
    return { messages: await opts.primary.history(q), source: 'primary' as const };
  };

  return {
    wrote(userId, chatId, revision) {
      const k = key(userId, chatId);
      if ((written.get(k) ?? -1) < revision) written.set(k, revision);
    },

    async history(userId, q) {
      if (Date.now() < skipReplicaUntil) return fromPrimary(q);
      let messages: MessageView[];
      try {
        messages = await opts.replica.history(q);
      } catch (err) {
        // Bad input is the caller's error whichever database answers: only an unreachable replica falls back.
        if (err instanceof ApiError) throw err;
        counts.replicaFailed += 1;
        skipReplicaUntil = Date.now() + retryAfterMs;
        if (Date.now() - lastWarnAt > 10_000) {
          lastWarnAt = Date.now();
          opts.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'read replica failed; history from the primary');
        }
        return fromPrimary(q);
      }
      // Only the newest page can miss the user's own send: older pages hold older revisions only.
      const mine = q.before === undefined ? written.get(key(userId, q.chatId)) : undefined;
      const newest = messages.reduce((max, m) => Math.max(max, m.revision), 0);
      if (mine !== undefined && newest < mine) {
        counts.replicaBehind += 1;
        return fromPrimary(q);
      }
      counts.replica += 1;
      return { messages, source: 'replica' };
    },

    stats: () => ({ ...counts }),
  };
}
