/**
 * The relay's side of the wire: the message for an event, and one batch published on a confirm
 * channel with every message's confirm awaited (relay.ts decides what the confirms mean for its
 * checkpoint).
 */
import type { ConfirmChannel, Options } from 'amqplib';
import type { RecordedEvent } from '../../commands/ports/event-store.js';
import { toPublicRecord } from '../../projections/ports/public-record.js';

/** The message for one event: always its public record, never the stored event itself. */
export function messageFor(e: RecordedEvent): { routingKey: string; body: Buffer; options: Options.Publish } {
  return {
    routingKey: e.type,
    body: Buffer.from(JSON.stringify(toPublicRecord(e))),
    options: {
      persistent: true,
      mandatory: true,
      messageId: e.id,
      contentType: 'application/json',
      type: e.type,
      timestamp: Math.floor(e.createdAt.getTime() / 1000),
      headers: { position: e.position.toString(), stream: e.streamId },
    },
  };
}

function drained(ch: ConfirmChannel): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      ch.off('drain', done);
      ch.off('close', done);
      resolve();
    };
    ch.once('drain', done);
    ch.once('close', done);
  });
}

/**
 * Publishes `batch` in order and waits until each message is acked, nacked or lost with the channel.
 * `confirmed[i]`: the broker acked message i (it may still have returned it: mandatory routing);
 * `confirmError`: the first failure, null when there was none.
 */
export async function publishConfirmed(
  ch: ConfirmChannel,
  exchange: string,
  batch: ReadonlyArray<RecordedEvent>,
): Promise<{ confirmed: boolean[]; confirmError: unknown }> {
  const confirmed: boolean[] = new Array<boolean>(batch.length).fill(false);
  let confirmError: unknown = null;
  // Wait for every message's own confirm rather than waitForConfirms(): that rejects at the first
  // nack, while acks for earlier messages may still be on their way (confirms arrive out of order
  // when queues answer at different speeds). amqplib calls each callback once: on ack, on nack, or
  // with an error when the channel closes.
  let outstanding = 0;
  let sent = false;
  let allSettled: () => void = () => undefined;
  const settled = new Promise<void>((resolve) => (allSettled = resolve));
  for (let i = 0; i < batch.length; i++) {
    const e = batch[i]!;
    const { routingKey, body, options } = messageFor(e);
    const onConfirm = (err: unknown): void => {
      if (err === null || err === undefined) confirmed[i] = true;
      else confirmError ??= err;
      if (--outstanding === 0 && sent) allSettled();
    };
    let writable: boolean;
    outstanding += 1;
    try {
      writable = ch.publish(exchange, routingKey, body, options, onConfirm);
    } catch (err) {
      // The channel closed under us; what was sent before still gets its callback.
      outstanding -= 1;
      confirmError ??= err;
      break;
    }
    // false: the socket buffer is full; wait rather than buffer a whole backlog in memory.
    if (!writable) await drained(ch);
  }
  sent = true;
  if (outstanding === 0) allSettled();
  await settled;
  return { confirmed, confirmError };
}
