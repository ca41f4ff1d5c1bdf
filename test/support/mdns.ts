/** mDNS helpers for tests that start a daemon and listen for its advertisement. */
import { discover, type DiscoveredCamera } from '../../src/discovery/mdns-browser.js';

/** Browses until the camera advertised as `name` is heard (or `timeoutMs` passes: undefined). */
export async function listenForCamera(name: string, timeoutMs = 10_000): Promise<DiscoveredCamera | undefined> {
  const controller = new AbortController();
  let found: DiscoveredCamera | undefined;
  await discover({
    timeoutMs,
    signal: controller.signal,
    onCamera: (cam) => {
      if (cam.name === name) {
        found = cam;
        controller.abort();
      }
    },
  });
  return found;
}
