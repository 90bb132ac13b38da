// Container health check: GET /healthz on this container's own port. HEALTH_PORT picks the port (the
// gateway's WS_PORT); by default the API's HTTP_PORT. Exit 0 = healthy, 1 = unhealthy.
const port = process.env.HEALTH_PORT ?? process.env.HTTP_PORT ?? '3000';
try {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_500) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
