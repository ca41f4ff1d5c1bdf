/** The listing cache in front of the recordings store: single flight, TTL, invalidation on delete. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RecordingEntry, RecordingStore } from '../../src/api/api-services.js';
import { cachedRecordingStore } from '../../src/api/cached-recording-store.js';
import { openRecordingFile } from '../../src/recorder/recording-file.js';

function countingStore(): RecordingStore & { lists: number; names: string[] } {
  const store = {
    lists: 0,
    names: ['log0001.mkv', 'log0002.mkv'],
    async list(): Promise<RecordingEntry[]> {
      store.lists++;
      return store.names.map((name) => ({
        name,
        path: `/r/${name}`,
        startedAtMs: 0,
        durationMs: 1,
        sizeBytes: 1,
        modifiedAtMs: 0,
        width: 1,
        height: 1,
        thumbnail: null,
        inProgress: false,
      }));
    },
    resolveSegment: async (n: string) => `/r/${n}`,
    resolveThumbnail: async (n: string) => `/r/${n}`,
    openSegment: async (n: string) => openRecordingFile('/r', n),
    openThumbnail: async (n: string) => openRecordingFile('/r', n),
    async remove(name: string) {
      store.names = store.names.filter((n) => n !== name);
    },
    async removeAll() {
      const n = store.names.length;
      store.names = [];
      return n;
    },
    usage: async () => ({ usedBytes: 0, freeBytes: null, totalBytes: null, files: store.names.length }),
  };
  return store;
}

describe('cachedRecordingStore', () => {
  it('shares one listing among concurrent and back-to-back calls within the TTL', async () => {
    let nowMs = 0;
    const inner = countingStore();
    const cached = cachedRecordingStore(inner, { listTtlMs: 1000, now: () => nowMs });
    const [a, b] = await Promise.all([cached.list(), cached.list()]);
    assert.equal(a, b);
    nowMs = 999;
    await cached.list();
    assert.equal(inner.lists, 1);
    nowMs = 1000;
    await cached.list();
    assert.equal(inner.lists, 2);
  });

  it('a delete through the cache is visible at once', async () => {
    const inner = countingStore();
    const cached = cachedRecordingStore(inner, { listTtlMs: 60_000, now: () => 0 });
    assert.equal((await cached.list()).length, 2);
    await cached.remove('log0001.mkv');
    assert.deepEqual(
      (await cached.list()).map((r) => r.name),
      ['log0002.mkv'],
    );
    assert.equal(await cached.removeAll(), 1);
    assert.deepEqual(await cached.list(), []);
    assert.equal((await cached.usage()).files, 0);
  });

  it('does not keep a failed listing', async () => {
    const inner = countingStore();
    let fail = true;
    const orig = inner.list.bind(inner);
    inner.list = async () => {
      if (fail) throw new Error('EIO');
      return orig();
    };
    const cached = cachedRecordingStore(inner, { listTtlMs: 60_000, now: () => 0 });
    await assert.rejects(cached.list());
    fail = false;
    assert.equal((await cached.list()).length, 2);
  });
});
