/** What a gateway process reports (GET /healthz of the API, SIGUSR2 in the log, the benchmarks). */
import type { ReceiptCounters } from './receipts.js';
import type { EphemeralStats } from './ephemeral.js';
import type { UpgradeCounters } from './upgrade.js';
import type { UwsRuntime } from './uws-runtime.js';

export interface WsStats {
  runtime: UwsRuntime;
  sockets: number;
  users: number;
  pendingUpgrades: number;
  /** `tooMany`: refused because the user had WS_MAX_SOCKETS_PER_USER sockets open on this process; `badRequest`: not a WebSocket handshake (400). */
  upgrades: UpgradeCounters;
  /**
   * Sockets closed, by who ended them: the gateway (with a close frame and a code of docs/websocket.md),
   * the client (its close frame), or nobody's close frame (`dropped`, 1006: the network, the idle
   * timeout, a frame over the payload limit, a reader past the backpressure limit).
   */
  closes: { byGateway: number; byClient: number; dropped: number };
  eventsSeen: number;
  framesSent: number;
  fills: number;
  backlogFromView: number;
  backlogFromStore: number;
  liveDuplicatesDropped: number;
  slowClosed: number;
  rateLimitedClosed: number;
  sessionClosed: number;
  sendsAccepted: number;
  sendsRejected: number;
  /** Sends awaiting their result now; sends refused because the process had too many (WS_MAX_PROCESS_INFLIGHT_SENDS). */
  sendsInFlight: number;
  sendsShed: number;
  badFrames: number;
  /** Last log position the subscription delivered, decimal string. */
  logPosition: string;
  logRestarts: number;
  logLastEventAt: string | null;
  /** Sends decided on the log-fed command cache without a read, how many of those met a conflict; what the cache holds. */
  commands: { unreadDecisions: number; unreadConflicts: number; cachedStreams: number; cachedWeight: number };
  /** Typing notices and presence (docs/websocket.md, "Typing and presence"). */
  ephemeral: EphemeralStats;
  /** Read receipts (receipts.ts). */
  receipts: ReceiptCounters;
}
