/**
 * The gateway's one subscription to the event log, from the head at start. If it ever fails it is
 * restarted from the last position it delivered (with backoff), so it cannot die silently; anything
 * re-delivered is dropped per socket by revision.
 */
import type { EventStore, RecordedEvent, Subscription } from '../../commands/ports/event-store.js';
import type { Logger } from 'pino';
import { errText } from './err-text.js';

export interface LogFeed {
  /** Last position handed to the handler. */
  position(): bigint;
  /** When an event last arrived (ms since epoch), or null: a lagging feed still moves it, a dead one does not. */
  lastEventAt(): number | null;
  restarts(): number;
  stop(): Promise<void>;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;

export function followLog(store: EventStore, from: bigint, onEvent: (e: RecordedEvent) => void, logger: Logger): LogFeed {
  let position = from;
  let lastAt: number | null = null;
  let restarts = 0;
  let stopped = false;
  let sub: Subscription | null = null;
  let wake: (() => void) | null = null;

  const run = async (): Promise<void> => {
    let backoff = RETRY_MIN_MS;
    while (!stopped) {
      try {
        sub = store.subscribeToAll({ after: position });
        for await (const e of sub) {
          position = e.position;
          lastAt = Date.now();
          backoff = RETRY_MIN_MS;
          try {
            onEvent(e);
          } catch (err) {
            // A bug in fan-out for one event must not stop the feed for everyone.
            logger.error({ err: err instanceof Error ? err.stack : String(err), position: String(e.position) }, 'ws fan-out failed for an event');
          }
        }
        if (stopped) return;
        logger.warn({ position: String(position) }, 'log subscription ended; restarting');
      } catch (err) {
        if (stopped) return;
        logger.warn({ err: errText(err), position: String(position), retryMs: backoff }, 'log subscription failed; restarting');
      }
      restarts++;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, backoff);
      });
      wake = null;
      backoff = Math.min(backoff * 2, RETRY_MAX_MS);
    }
  };
  const done = run();

  return {
    position: () => position,
    lastEventAt: () => lastAt,
    restarts: () => restarts,
    async stop() {
      stopped = true;
      wake?.();
      await sub?.stop();
      await done;
    },
  };
}
