/**
 * What the relay and the projector consumer are both built on: the broker connection they wait on
 * (it reconnects, they reopen their channels), a logger named for them, the signal that stops them,
 * and the backoff after a failure on a live connection.
 */
import type { Logger } from '../logger.js';
import type { BrokerConnection } from './connection.js';

/** Each owner documents what its backoff is for (RelayOptions, ProjectorConsumerOptions). */
export interface WorkerBackoffOptions {
  /** Default 100 ms, and 1000 ms for retryMaxMs: a retry is cheap, and each second of backoff is a second of lag once the cause is gone. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

export interface BrokerWorker {
  readonly conn: BrokerConnection;
  readonly log: Logger;
  readonly stop: AbortController;
  readonly backoff: { readonly minMs: number; readonly maxMs: number };
}

/** `bindings` name the worker in every line it logs. */
export function brokerWorker(
  opts: { connection: BrokerConnection; logger: Logger } & WorkerBackoffOptions,
  bindings: Record<string, unknown>,
): BrokerWorker {
  return {
    conn: opts.connection,
    log: opts.logger.child(bindings),
    stop: new AbortController(),
    backoff: { minMs: opts.retryMinMs ?? 100, maxMs: opts.retryMaxMs ?? 1000 },
  };
}
