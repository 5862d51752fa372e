/**
 * Polling for the tests: wait for a condition with a generous deadline instead of a fixed
 * sleep, so no test depends on how fast the machine is.
 */

/** Polls `check` every 50 ms until it returns a value other than undefined; throws after `timeoutMs` naming `what`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Polls `condition` every 50 ms until it holds; throws after `timeoutMs` naming `what`. */
export async function waitUntil(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  await waitFor(what, () => (condition() ? true : undefined), timeoutMs);
}
