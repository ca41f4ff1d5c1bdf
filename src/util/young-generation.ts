/**
 * Keeps V8's young generation at its starting size in the daemon.
 *
 * Why: V8 grows the new space (two semi-spaces, up to 16 MB each on 64-bit)
 * whenever many objects survive a scavenge, as they do while a download's
 * chunks wait for the socket, and keeps the grown space for the rest of the
 * process's life. In an hour's soak the daemon's RSS rose 41 MB in steps over
 * 45 minutes while its heap in use stayed near 15 MB; its new space was
 * 32 MB (docs/design.md "Soak"). A camera runs for hours in 512 MB: a few
 * more scavenges of a 1 MB space cost less than 30 MB kept for good.
 *
 * Set at run time because `--max-semi-space-size` is read only when the
 * process starts, and `npx rearview serve` or a service unit's plain `node`
 * have no say in that; `--semi-space-growth-factor` is read each time the
 * space would grow (1: it never does). A worker thread starting up puts V8's
 * flags back as the command line had them (measured on Node 20: the reset
 * lands before the worker's 'online' event), so the converter pool hands
 * each new thread to {@link keepAfterWorkerStarts}. Worker threads have
 * their own young-generation limit (resourceLimits).
 */
import { setFlagsFromString } from 'node:v8';
import type { Worker } from 'node:worker_threads';

const FLAG = '--semi-space-growth-factor=1';
let enabled = false;

/** Stops the main thread's new space from growing, for the rest of the process. */
export function keepYoungGenerationSmall(): void {
  enabled = true;
  setFlagsFromString(FLAG);
}

/** Sets the flag again once `thread` has started (and reset it); nothing unless keepYoungGenerationSmall ran. */
export function keepAfterWorkerStarts(thread: Worker): void {
  if (!enabled) return;
  thread.once('online', () => setFlagsFromString(FLAG));
  // Also at its end, in case a thread that failed before 'online' reset them.
  thread.once('exit', () => setFlagsFromString(FLAG));
}
