// Waiting in tests for something that happens elsewhere (another process, a subscription, a timer).

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls until cond() holds; fails with the label after timeoutMs. A check that itself never answers
 * (a query or broker connection stuck on a loaded machine) fails the wait at its deadline too, named
 * as such, instead of holding the test until tap's file timeout says only "timeout!".
 */
export async function waitFor(label: string, cond: () => Promise<boolean> | boolean, timeoutMs = 30_000, everyMs = 25): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await answerBy(until, label, cond)) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${label}`);
    await sleep(everyMs);
  }
}

async function answerBy(until: number, label: string, cond: () => Promise<boolean> | boolean): Promise<boolean> {
  const answer = cond();
  if (typeof answer === 'boolean') return answer;
  let timer: NodeJS.Timeout | undefined;
  // A last check may run a little past the deadline, as the plain loop allowed.
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the check for "${label}" did not answer by its deadline`)), Math.max(until - Date.now(), 0) + 5_000);
  });
  try {
    return await Promise.race([answer, stuck]);
  } finally {
    clearTimeout(timer);
  }
}

/** The promise's value, or 'timeout' once ms have passed (the timer cleared either way, so it keeps no test alive). */
export async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
