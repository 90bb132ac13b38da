// The child processes that fault tests start (run-relay.ts, run-projector.ts) stop the same way.

/** At the first SIGTERM runs the closers in order, then exits 0; a repeated SIGTERM meanwhile is ignored. */
export function exitOnSigterm(...closers: Array<() => Promise<void>>): void {
  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      for (const close of closers) await close();
      process.exit(0);
    })();
  });
}
