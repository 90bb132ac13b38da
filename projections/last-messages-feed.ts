/**
 * The last-messages view fed from the projector's broker consumer, which already receives every event,
 * instead of a log subscription of its own: one read of each event from PostgreSQL fewer (a NOTIFY, a
 * page query and its row parsing per batch), which bench:e2e counted among the biggest costs per message.
 *
 * The consumer hands each batch to the SQL projector and to the view at once (feedingView) and acks
 * only when both are done, so a delivery acked is in the view, and a crash before the ack redelivers it
 * (the view's per-chat revision guard drops what it already holds). Every delivery is offered, whatever
 * the SQL side made of it (a duplicate there may be news to the view after a crash between the two).
 * The projection (last-messages.ts) keeps everything else: the catch-up from its checkpoint, gaps,
 * rebuilds, Redis outages; offers that arrive while it is not live are left to its next replay of the log.
 */
import type { PublicRecord } from './ports/public-record.js';

export type ViewFeedHandler = (records: PublicRecord[]) => Promise<void>;

export class BrokerViewFeed {
  #handler: ViewFeedHandler | null = null;

  /** Hands the records to the live projection; resolves once the view holds them (or will replay them). Never rejects. */
  offer(records: PublicRecord[]): Promise<void> {
    if (!this.#handler || records.length === 0) return Promise.resolve();
    return this.#handler(records).catch(() => undefined);
  }

  /** The projection takes the offers for one pass; the returned function gives them up. */
  attach(handler: ViewFeedHandler): () => void {
    this.#handler = handler;
    return () => {
      if (this.#handler === handler) this.#handler = null;
    };
  }
}

/** The sink, with each batch also offered to the view (concurrently; resolves when both are done). */
export function feedingView<R, S extends { applyBatch(records: PublicRecord[]): Promise<R> }>(sink: S, feed: BrokerViewFeed): S {
  const applyBatch = async (records: PublicRecord[]): Promise<R> => {
    const [result] = await Promise.all([sink.applyBatch(records), feed.offer(records)]);
    return result;
  };
  return { ...sink, applyBatch };
}
