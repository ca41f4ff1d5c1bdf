/**
 * Polls an expression in a browser page until it is truthy, with a deadline that only guards
 * against a hang (no sleeps as synchronisation); on the deadline the error carries what
 * `probe` reads of the page. Shared by the engine suite and the ride checks, which differ only
 * in their probe and pace.
 */

/** What the wait needs of a page (playwright's Page wrapped, and the engines' EnginePage, fit). */
export interface EvaluatingPage {
  evaluate<T>(expression: string): Promise<T>;
}

export async function waitInPageFor(
  page: EvaluatingPage,
  expression: string,
  what: string,
  options: { timeoutMs: number; intervalMs: number; probe: string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await page.evaluate<boolean>(`!!(${expression})`)) return;
    if (Date.now() > deadline) {
      const probe = await page.evaluate<string>(options.probe).catch((err: Error) => err.message);
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}; page: ${probe}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}
