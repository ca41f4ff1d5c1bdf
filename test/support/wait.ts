/**
 * The one "wait for a condition" helper of the tests: polls with a deadline
 * instead of sleeping for a guessed time (a sleep is never synchronisation).
 */

/**
 * Resolves once `condition` holds (sync or async); throws
 * "timed out after N ms waiting for <what>" after `timeoutMs` (default
 * 10 000 ms). Polls every `intervalMs` (default 10 ms).
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
  intervalMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = condition();
    // A sync condition is checked without an extra microtask turn.
    if (typeof result === 'boolean' ? result : await result) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
