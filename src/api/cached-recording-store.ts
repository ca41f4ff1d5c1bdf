/**
 * A short-lived cache in front of the recordings store. Listing 900 segments
 * costs the library tens of milliseconds of stat calls; the app polls the
 * list and the web page the status, so concurrent and back-to-back requests
 * share one listing (single flight) for `ttlMs`. Deletions through the API
 * invalidate it at once, so a client never sees a file it just deleted.
 */
import type { RecordingEntry, RecordingStore, RecordingsUsage } from './api-services.js';

/** Single-flight value with a time-to-live. */
class Memo<T> {
  private value: { atMs: number; promise: Promise<T> } | undefined;
  constructor(
    private readonly load: () => Promise<T>,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  get(): Promise<T> {
    const t = this.now();
    if (this.value && t - this.value.atMs < this.ttlMs) return this.value.promise;
    const promise = this.load();
    const entry = { atMs: t, promise };
    this.value = entry;
    // A failed load is not cached.
    promise.catch(() => {
      if (this.value === entry) this.value = undefined;
    });
    return promise;
  }

  clear(): void {
    this.value = undefined;
  }
}

/** Wraps `store`: list() cached for `listTtlMs` (default 1000), usage() for `usageTtlMs` (default 2000). */
export function cachedRecordingStore(
  store: RecordingStore,
  options: { listTtlMs?: number; usageTtlMs?: number; now?: () => number } = {},
): RecordingStore & { invalidate(): void } {
  const now = options.now ?? (() => performance.now());
  const list = new Memo<RecordingEntry[]>(() => store.list(), options.listTtlMs ?? 1000, now);
  const usage = new Memo<RecordingsUsage>(() => store.usage(), options.usageTtlMs ?? 2000, now);
  const invalidate = (): void => {
    list.clear();
    usage.clear();
  };
  return {
    list: () => list.get(),
    usage: () => usage.get(),
    resolveSegment: (n) => store.resolveSegment(n),
    resolveThumbnail: (n) => store.resolveThumbnail(n),
    openSegment: (n) => store.openSegment(n),
    openThumbnail: (n) => store.openThumbnail(n),
    async remove(name) {
      try {
        await store.remove(name);
      } finally {
        invalidate();
      }
    },
    async removeAll() {
      try {
        return await store.removeAll();
      } finally {
        invalidate();
      }
    },
    invalidate,
  };
}
