/**
 * Prometheus metrics of the HTTP process. Each app gets its own Registry unless the composition
 * root hands one in (to share with the relay or projector of the same process); the global default
 * registry is never used, so two apps in one test process do not collide.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ProjectionLag {
  projection: string;
  /** Events the projection is behind the head of the log. */
  events: number;
  /** Age of the oldest event it has not applied yet, in seconds (0 when caught up). */
  seconds: number;
}

export interface MetricsOptions {
  registry?: Registry;
  /** Process metrics (CPU, memory, event loop lag); off by default so tests stay cheap. */
  collectDefault?: boolean;
  /** Fed on every scrape; a failure leaves the gauges at their last values. */
  projectionLag?: () => Promise<ProjectionLag[]>;
}

export interface HttpMetrics {
  registry: Registry;
  observeRequest(labels: { method: string; route: string; status: number }, seconds: number): void;
  countCommand(name: string, outcome: string): void;
}

export function createHttpMetrics(opts: MetricsOptions = {}): HttpMetrics {
  const registry = opts.registry ?? new Registry();
  if (opts.collectDefault) collectDefaultMetrics({ register: registry });

  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const commands = new Counter({
    name: 'commands_total',
    help: 'Commands handled, by command name and outcome (ok, a domain error code, or error)',
    labelNames: ['command', 'outcome'] as const,
    registers: [registry],
  });
  const lagFeed = opts.projectionLag;
  // One status query serves both gauges of a scrape (the registry collects them concurrently).
  let inflight: Promise<ProjectionLag[] | null> | null = null;
  const lags = (): Promise<ProjectionLag[] | null> => {
    if (!lagFeed) return Promise.resolve(null);
    // A scrape must not fail because a status query did; the readiness check reports that.
    inflight ??= lagFeed().catch(() => null).finally(() => { inflight = null; });
    return inflight;
  };
  const lagGauge = (name: string, help: string, pick: (lag: ProjectionLag) => number): Gauge<'projection'> =>
    new Gauge({
      name,
      help,
      labelNames: ['projection'] as const,
      registers: [registry],
      async collect() {
        for (const lag of (await lags()) ?? []) this.set({ projection: lag.projection }, pick(lag));
      },
    });
  lagGauge('projection_lag_events', 'Events a projection is behind the head of the log', (l) => l.events);
  lagGauge('projection_lag_seconds', 'Age in seconds of the oldest event a projection has not applied yet', (l) => l.seconds);

  return {
    registry,
    observeRequest: (labels, seconds) => latency.observe({ method: labels.method, route: labels.route, status: String(labels.status) }, seconds),
    countCommand: (name, outcome) => commands.inc({ command: name, outcome }),
  };
}
