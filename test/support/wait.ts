// Waiting in tests for something that happens elsewhere (another process, a subscription, a timer).

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until cond() holds; fails with the label after timeoutMs. */
export async function waitFor(label: string, cond: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for: ${label}`);
    await sleep(25);
  }
}
