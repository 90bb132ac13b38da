/**
 * LastMessagesProjection: keeps the last-N view (Redis or in-memory; N = the view's capacity,
 * LAST_MESSAGES_SIZE) following the event log.
 *
 * - Live: a subscription from the view's checkpoint, or (option `feed`) the projector's broker consumer,
 *   which saves that subscription's read of every event (last-messages-feed.ts); ChatStarted/MessageSent
 *   go to the view, whose per-chat revision guard makes re-delivery harmless (so the checkpoint is saved only best effort,
 *   once per heartbeat). The events the subscription already holds go in one round trip (up to
 *   batchSize): a view that fell behind (a slow or paused Redis) catches up in a few calls instead of
 *   one per event, and never falls further behind than one batch's latency.
 * - Gap (the view missed revisions of a chat, e.g. its keys were evicted): the chat is backfilled from
 *   its stream (the newest N messages, replaced atomically) and the projection goes on.
 * - Lost view (FLUSHALL, or a restart without persistence, detected by the missing epoch on the
 *   heartbeat, on reconnect, or at start): state 'rebuilding' under a new epoch, replay of the whole
 *   log in batches (one round trip per page, not per event) up to the head, then 'ready' and live.
 * - Resized view (built for another capacity than the view has now, i.e. LAST_MESSAGES_SIZE changed
 *   between restarts): the same rebuild under a new epoch, so no chat holds too many or too few.
 * - Reconnect (a failover to a promoted replica, or a restart from a snapshot, may have lost the
 *   latest writes, so the view may have gone back in time under the same epoch): the live pass ends,
 *   the view is suspended ('rebuilding', same epoch, readers fall back) and replayed from its own
 *   checkpoint, which replication keeps no newer than the writes it covers, then it is ready again.
 * - Outage: any failure ends the current pass; the loop retries with capped exponential backoff from
 *   the view's own checkpoint. It never throws out of start() and never spins.
 *
 * This file decides when to rebuild, catch up or follow; last-messages-writer.ts writes to the view.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventStore, Subscription } from '../commands/ports/event-store.js';
import { batchesOf } from './ports/subscription-batches.js';
import type { PublicRecord } from './ports/public-record.js';
import { DEFAULT_VIEW_CAPACITY, type LastMessagesViewAdmin } from './ports/last-messages.js';
import type { Logger } from 'pino';
import type { BrokerViewFeed } from './last-messages-feed.js';
import { ViewWriter } from './last-messages-writer.js';

export interface LastMessagesProjectionOptions {
  store: EventStore;
  view: LastMessagesViewAdmin;
  logger: Logger;
  /** How often the epoch is checked and the checkpoint saved. */
  epochCheckMs?: number;
  /** Events per readAll page during rebuild and catch-up, and most events per live write. */
  batchSize?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  /**
   * Live events from the projector's broker consumer (last-messages-feed.ts) instead of a log
   * subscription; catch-up, gaps and rebuilds still read the log. While live, a heartbeat that finds
   * the checkpoint unmoved and the log's head past it (RabbitMQ or the relay down) ends the pass, whose
   * replay then keeps the view current from the log.
   */
  feed?: BrokerViewFeed;
}

/** Offers held while a broker-fed pass catches up; past this the replay runs again instead. */
const MAX_HELD_OFFERS = 20_000;
/** How long after start a failure is logged at debug level: long enough for a client to connect, short enough that an outage at start is still reported. */
const START_GRACE_MS = 5_000;

export type LastMessagesProjectionPhase = 'idle' | 'starting' | 'rebuilding' | 'catching-up' | 'live' | 'retrying' | 'stopped';

export interface LastMessagesProjectionStatus {
  state: LastMessagesProjectionPhase;
  /** Epoch of the view this projection is feeding (null before the first successful start). */
  epoch: string | null;
  /** Position of the last event applied, decimal string. */
  checkpoint: string;
  lastError: string | null;
  lastErrorAt: string | null;
  /** When an event last reached the view: a lagging projection still moves this, a dead one does not. */
  lastAppliedAt: string | null;
  rebuilds: number;
  backfills: number;
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class LastMessagesProjection {
  readonly #store: EventStore;
  readonly #view: LastMessagesViewAdmin;
  readonly #log: Logger;
  readonly #epochCheckMs: number;
  readonly #batchSize: number;
  readonly #writer: ViewWriter;
  readonly #retryInitialMs: number;
  readonly #retryMaxMs: number;
  readonly #feed: BrokerViewFeed | null;

  #phase: LastMessagesProjectionPhase = 'idle';
  #epoch: string | null = null;
  #lastError: string | null = null;
  #lastErrorAt: Date | null = null;
  #delay: number;
  #lastWarnAt = 0;
  /** Until the view has answered once, a failure in the first seconds is a client still connecting, not an outage. */
  #quietUntil = 0;
  #suppressed = 0;

  #stopping = false;
  #loop: Promise<void> | null = null;
  #sub: Subscription | null = null;
  /** Ends the live pass (whichever its source). */
  #endLive: (() => void) | null = null;
  #wake: (() => void) | null = null;
  #offReconnect: (() => void) | null = null;
  /** The connection was re-established while live: the view must be replayed from its own checkpoint. */
  #resync = false;

  constructor(opts: LastMessagesProjectionOptions) {
    this.#store = opts.store;
    this.#view = opts.view;
    this.#log = opts.logger;
    this.#epochCheckMs = opts.epochCheckMs ?? 1_000;
    this.#batchSize = opts.batchSize ?? 500;
    this.#retryInitialMs = opts.retryInitialMs ?? 100;
    // Short: a retry is one cheap state read, and a paused Redis (no reconnect to wake the loop) is
    // noticed this long after it answers again at worst.
    this.#retryMaxMs = opts.retryMaxMs ?? 1_000;
    this.#delay = this.#retryInitialMs;
    this.#feed = opts.feed ?? null;
    this.#writer = new ViewWriter({ store: this.#store, view: this.#view, logger: this.#log, batchSize: this.#batchSize, stopping: () => this.#stopping });
  }

  /** Starts the loop in the background; it never rejects (failures go to status().lastError). */
  start(): void {
    if (this.#loop) return;
    this.#stopping = false;
    // A reconnect ends the backoff pause at once: no need to wait out the full delay.
    // It also marks the view for a replay from its own checkpoint: the server may have lost writes.
    this.#offReconnect = this.#view.onReconnect(() => {
      this.#resync = true;
      this.#wake?.();
    });
    this.#loop = this.#run();
  }

  /** Resolves once the subscription loop has ended. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    this.#endLive?.();
    await this.#sub?.stop();
    await this.#loop;
    this.#offReconnect?.();
    this.#offReconnect = null;
    this.#loop = null;
    this.#phase = 'stopped';
  }

  status(): LastMessagesProjectionStatus {
    return {
      state: this.#phase,
      epoch: this.#epoch,
      checkpoint: this.#writer.checkpoint.toString(),
      lastError: this.#lastError,
      lastErrorAt: this.#lastErrorAt?.toISOString() ?? null,
      lastAppliedAt: this.#writer.lastAppliedAt?.toISOString() ?? null,
      rebuilds: this.#writer.rebuilds,
      backfills: this.#writer.backfills,
    };
  }

  async #run(): Promise<void> {
    this.#log.info('last-messages projection starting');
    this.#quietUntil = Date.now() + START_GRACE_MS;
    while (!this.#stopping) {
      try {
        this.#phase = 'starting';
        const resync = this.#resync;
        this.#resync = false;
        let s = await this.#view.state();
        const checkpoint = parsePosition(s.checkpoint);
        if (resync && s.epoch !== null && s.epoch === this.#epoch && s.state === 'ready' && checkpoint !== null && this.#view.suspend) {
          // Suspended before the replay, so no reader takes a view that lost writes for the whole truth.
          if (await this.#view.suspend(s.epoch)) {
            this.#log.info({ epoch: s.epoch, from: checkpoint.toString() }, 'last-messages view reconnected: replaying from its own checkpoint');
            s = { ...s, state: 'rebuilding' };
          }
        }
        // A view with no recorded capacity was built before the setting existed, when it was always the default.
        const builtFor = s.capacity ?? DEFAULT_VIEW_CAPACITY;
        const resized = s.epoch !== null && builtFor !== this.#view.capacity;
        if (resized) {
          this.#log.info({ epoch: s.epoch, builtFor, capacity: this.#view.capacity }, 'last-messages view built for another size: rebuilding');
        }
        let epoch: string;
        let from: bigint;
        if (!resized && s.epoch !== null && s.state === 'ready' && checkpoint !== null) {
          // Resume from the view's checkpoint, not ours: if Redis came back from an older snapshot,
          // replaying the difference is what repairs it (the revision guard drops the rest).
          epoch = s.epoch;
          from = checkpoint;
        } else {
          // Our own rebuild, interrupted by an error: go on from its saved progress, not from zero,
          // or a flaky Redis could keep a large rebuild from ever finishing.
          const resume = !resized && s.state === 'rebuilding' && s.epoch !== null && s.epoch === this.#epoch && checkpoint !== null
            ? { epoch: s.epoch, from: checkpoint }
            : null;
          this.#phase = 'rebuilding';
          const rebuilt = await this.#writer.rebuild(resume, (e) => (this.#epoch = e));
          if (!rebuilt) continue; // the view was lost again mid-rebuild, or we are stopping
          ({ epoch, from } = rebuilt);
        }
        this.#epoch = epoch;
        this.#writer.checkpoint = from;
        await this.#follow(epoch, from);
      } catch (err) {
        if (this.#stopping) break;
        this.#phase = 'retrying';
        this.#noteError(err, 'last-messages projection failed; retrying');
        // Jitter, so many processes do not hammer a recovering Redis in step.
        await this.#sleep(this.#delay + Math.floor(Math.random() * this.#delay * 0.2));
        this.#delay = Math.min(this.#delay * 2, this.#retryMaxMs);
      }
    }
    this.#phase = 'stopped';
    this.#log.info('last-messages projection stopped');
  }

  /**
   * Catches up in pages from `from`, then follows the live events (the log subscription, or the broker
   * feed) until stopped, the epoch is lost, or the view or the feed needs a new pass.
   */
  async #follow(epoch: string, from: bigint): Promise<void> {
    this.#phase = 'catching-up';
    let ended = false;
    let endPass!: () => void;
    const passEnded = new Promise<void>((resolve) => (endPass = resolve));
    let sub: Subscription | null = null;
    const end = (): void => {
      ended = true;
      endPass();
      if (sub) void sub.stop();
    };
    let failure: unknown = null;
    // Broker-fed: offers are held while the log replay runs, and applied after it, in arrival order.
    let held: PublicRecord[] | null = [];
    let overflowed = false;
    let chain: Promise<void> = Promise.resolve();
    const detach = this.#feed?.attach((records) => {
      if (held) {
        if (held.length + records.length > MAX_HELD_OFFERS) overflowed = true;
        else held.push(...records);
        return Promise.resolve();
      }
      chain = chain.then(async () => {
        if (ended) return; // the next pass replays the log from a checkpoint no later than these
        try {
          await this.#writer.applyOffered(records);
        } catch (err) {
          failure ??= err;
          end();
        }
      });
      return chain;
    });
    this.#endLive = end;
    let ticking = false;
    let epochLost = false;
    let seen = -1n;
    const tick = async (): Promise<void> => {
      // After a reconnect our checkpoint may be ahead of what the (new) server holds: never save it there.
      if (ticking || this.#stopping || ended || this.#resync || this.#phase !== 'live') return;
      ticking = true;
      try {
        if (!(await this.#view.heartbeat(epoch, this.#writer.checkpoint.toString()))) {
          epochLost = true;
          this.#log.warn({ epoch }, 'last-messages view epoch gone (flushed or restarted): rebuilding');
          end();
        } else if (this.#feed && this.#writer.checkpoint === seen && (await this.#store.headPosition()) > this.#writer.checkpoint) {
          this.#log.info({ checkpoint: this.#writer.checkpoint.toString() }, 'last-messages: the broker feed is behind the log; replaying from the log');
          end();
        }
        seen = this.#writer.checkpoint;
      } catch (err) {
        // The view is unreachable: leave live mode for the retry loop, so status() says 'retrying'
        // and the return of Redis is handled in one place (state check, then resume or rebuild).
        failure ??= err;
        end();
      } finally {
        ticking = false;
      }
    };
    const timer = setInterval(() => void tick(), this.#epochCheckMs);
    timer.unref();
    // A reconnect may mean a restarted, empty Redis, or a promoted replica behind us: leave live mode
    // at once and let the pass start over from the view's state (rebuild, or replay from its checkpoint).
    const offReconnect = this.#view.onReconnect(() => {
      this.#resync = true;
      end();
    });
    try {
      await this.#writer.backfillPending();
      let pos = from;
      do {
        overflowed = false;
        if (held) held.length = 0;
        pos = await this.#writer.replay(epoch, pos, null);
        if (this.#stopping || this.#resync || ended) return; // reconnected meanwhile: start the pass over
      } while (overflowed);
      this.#delay = this.#retryInitialMs; // the view and the store both answer: the outage, if any, is over
      this.#phase = 'live';
      this.#quietUntil = 0;
      if (this.#feed) {
        const caughtUp = held ?? [];
        held = null;
        if (caughtUp.length > 0) chain = chain.then(() => this.#writer.applyOffered(caughtUp)).catch((err: unknown) => { failure ??= err; end(); });
        await passEnded;
      } else {
        sub = this.#store.subscribeToAll({ after: pos });
        this.#sub = sub;
        // Linger 0: no waiting for company; a batch is whatever arrived while the previous one was written.
        for await (const batch of batchesOf(sub, this.#batchSize, 0)) {
          if (this.#stopping || ended || this.#resync) break;
          await this.#writer.applyPage(batch);
          this.#writer.checkpoint = batch[batch.length - 1]!.position;
        }
      }
    } finally {
      end();
      clearInterval(timer);
      offReconnect();
      detach?.();
      this.#endLive = null;
      await chain;
      this.#sub = null;
      if (sub) await sub.stop();
    }
    if (failure !== null && !this.#stopping && !epochLost) throw failure;
  }

  #noteError(err: unknown, msg: string): void {
    this.#lastError = errText(err);
    this.#lastErrorAt = new Date();
    // Rate-limited: an outage retried every few seconds must not flood the log.
    const now = Date.now();
    if (now < this.#quietUntil) {
      this.#log.debug({ err: this.#lastError, phase: this.#phase }, `${msg} (starting: the view's client may still be connecting)`);
      return;
    }
    if (now - this.#lastWarnAt < 10_000) {
      this.#suppressed += 1;
      return;
    }
    this.#log.warn({ err: this.#lastError, phase: this.#phase, suppressed: this.#suppressed }, msg);
    this.#lastWarnAt = now;
    this.#suppressed = 0;
  }

  /** A backoff pause that stop() and a reconnect cut short. */
  async #sleep(ms: number): Promise<void> {
    const cut = new AbortController();
    this.#wake = () => cut.abort();
    await sleep(ms, undefined, { signal: cut.signal }).catch(() => undefined);
    this.#wake = null;
  }
}

function parsePosition(value: string | null): bigint | null {
  if (value === null || !/^\d{1,20}$/.test(value)) return null;
  return BigInt(value);
}
