/** Waiting for a condition in tests: poll it, with a deadline, instead of sleeping a guessed time. */

/** Poll `condition` every 10 ms until it holds, or throw naming `what` after `timeoutMs`. */
export async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
