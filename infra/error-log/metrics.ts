/**
 * The error log's own failure count, for the process's Prometheus registry (served by GET /metrics
 * in the roles that serve HTTP). A dropped row is still on stdout; the counter says the table and
 * `/api/errors` are missing it.
 */
import { Counter, type Registry } from 'prom-client';
import type { ErrorLogDropReason } from './destination.js';

export function errorLogDropCounter(registry: Registry): (reason: ErrorLogDropReason, rows: number) => void {
  const dropped = new Counter({
    name: 'error_log_dropped_total',
    help: 'Error-log rows never written to error_log: overflow (queue full) or refused (the database refused even the bare row)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  // Both series exist from the start, so an alert can compare against zero.
  dropped.inc({ reason: 'overflow' }, 0);
  dropped.inc({ reason: 'refused' }, 0);
  return (reason, rows) => dropped.inc({ reason }, rows);
}
