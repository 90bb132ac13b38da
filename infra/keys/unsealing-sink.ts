/**
 * The projector behind RabbitMQ receives sealed records (the relay publishes what the log holds) and
 * opens them with the key store just before applying them: an erased user's bodies still in a queue
 * are unreadable, and arrive in the read models as erased. A record the sink reports as failed is
 * handed back sealed, so a dead letter never keeps a plaintext body.
 */
import type { EventSink } from '../broker/event-sink.js';
import type { KeyRing } from './ring.js';
import { openPublic } from './seal-events.js';

export function unsealingSink(sink: EventSink, ring: KeyRing): EventSink {
  return {
    applyBatch: async (records) => {
      const result = await sink.applyBatch(await openPublic(records, ring));
      if (!result?.failed || result.failed.length === 0) return result;
      const sealed = new Map(records.map((r) => [r.id, r]));
      return { ...result, failed: result.failed.map((f) => ({ ...f, record: sealed.get(f.record.id) ?? f.record })) };
    },
    park: (record, error, attempts) => sink.park(record, error, attempts),
  };
}
