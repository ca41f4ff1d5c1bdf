/**
 * Moments on a real recorder and real files: the segments of a moment's
 * window leave the ring (renamed log0042-<start>.mkv) and survive rotation
 * with --max-files 3 and a wipe; the moments file survives a restart and a
 * damaged one is set aside; marks are rate-limited, capped and validated.
 * Capture times come from the feeder (a fake clock), not the wall clock.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { hasCode } from '../../src/errors.js';
import { MOMENTS_FILE, MomentStore } from '../../src/recorder/moment-store.js';
import { Recorder } from '../../src/recorder/recorder.js';
import { RecordingLibrary } from '../../src/recorder/recording-library.js';
import { parseProtectedName, parseSegmentName } from '../../src/recorder/segment-names.js';
import { samplePath } from '../hub/access-units.js';
import { scratchDir } from '../support/paths.js';
import { decodeErrors, HubFeeder, noLimits } from './recording-fixtures.js';

const T0 = Date.UTC(2026, 11, 3, 8, 14, 0);

interface Rig {
  feeder: HubFeeder;
  recorder: Recorder;
  library: RecordingLibrary;
  store: MomentStore;
  mono: { ms: number };
  /** Pushes `seconds` of video at 30 fps in 0.5 s steps, letting the recorder and the moments catch up. */
  feed(seconds: number): Promise<void>;
}

function rig(
  dir: string,
  options: { feeder?: HubFeeder; maxProtected?: { bytes: number }; maxFiles?: number } = {},
): Rig {
  const feeder = options.feeder ?? HubFeeder.ofFile(samplePath, 30, T0);
  const mono = { ms: 0 };
  let store: MomentStore | undefined;
  const recorder = new Recorder({
    hub: feeder.hub,
    dir,
    segmentMs: 2000,
    limits: { ...noLimits, maxFiles: options.maxFiles ?? 3 },
    thumbnails: false,
    retentionIntervalMs: 0,
    retention: { isProtected: (n) => store?.isProtected(n) ?? false },
    segmentEvents: {
      opened: (n, t) => store?.segmentOpened(n, t),
      finished: (n) => store?.segmentFinished(n),
    },
  });
  const library = new RecordingLibrary(dir, {
    isRecording: (p) => p === recorder.currentSegmentPath,
    lastSegment: () => recorder.lastSegment,
    isProtected: (n) => store?.isProtected(n) ?? false,
  });
  store = new MomentStore({
    dir,
    library,
    beforeMs: 3000,
    afterMs: 2000,
    maxProtected: options.maxProtected ?? { bytes: 1e9 },
    now: () => feeder.nextCapturedAtMs,
    monotonicNow: () => mono.ms,
  });
  const s = store;
  return {
    feeder,
    recorder,
    library,
    store: s,
    mono,
    async feed(seconds) {
      for (let i = 0; i < seconds * 2; i++) {
        feeder.push(15);
        await recorder.flush();
        await s.idle();
      }
    },
  };
}

let scratch: { dir: string; cleanup: () => void };
beforeEach(() => {
  scratch = scratchDir('rearview-moments-');
});
afterEach(() => scratch.cleanup());

const ring = (dir: string): string[] => readdirSync(dir).filter((n) => parseSegmentName(n) !== undefined);
const kept = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => parseProtectedName(n) !== undefined)
    .sort();

/** The protected files cover [from, to): each overlaps it and together they leave no hole. */
async function assertCovers(library: RecordingLibrary, names: string[], fromMs: number, toMs: number): Promise<void> {
  const list = await library.list();
  const spans = names
    .map((n) => list.find((r) => r.name === n))
    .map((r) => {
      assert.ok(r, 'listed');
      assert.equal(r.protected, true);
      return [r.startedAtMs, r.startedAtMs + (r.durationMs ?? 0)] as const;
    })
    .sort((a, b) => a[0] - b[0]);
  assert.ok((spans[0]?.[0] ?? Infinity) <= fromMs, 'the first kept segment starts at or before the window');
  assert.ok((spans[spans.length - 1]?.[1] ?? 0) >= toMs, 'the last kept segment ends at or after the window');
  for (let i = 1; i < spans.length; i++)
    assert.ok((spans[i]?.[0] ?? 0) - (spans[i - 1]?.[1] ?? 0) < 100, 'no hole between kept segments');
}

test('a moment keeps its window out of the ring through rotation (--max-files 3, 2 s segments), and a wipe', async () => {
  const r = rig(scratch.dir);
  await r.store.load();
  await r.recorder.start();
  await r.feed(8);
  const m = await r.store.mark({ note: 'close pass' });
  assert.equal(m.toMs - m.fromMs, 5000);
  await r.feed(20);
  const [info] = await r.store.list();
  assert.ok(info);
  assert.equal(info.complete, true, 'window over and every segment of it moved out of the ring');
  assert.deepEqual([...info.segments].sort(), kept(scratch.dir), 'the moment holds exactly the protected files');
  assert.ok(info.segments.length >= 3, `a 5 s window of 2 s segments spans 3 or 4 of them, got ${info.segments}`);
  await assertCovers(r.library, info.segments, m.fromMs, m.toMs);
  assert.ok(info.bytes > 0);
  // The ring still holds its 3 names (protected files neither count nor take a name).
  assert.equal(ring(scratch.dir).length, 3, `ring: ${ring(scratch.dir)}`);
  for (const n of info.segments) assert.equal(decodeErrors(join(scratch.dir, n)), '', `${n} decodes cleanly`);
  assert.ok(r.recorder.status.rotatedSegments >= 8, 'rotation ran');

  // Wipe: the library's removeAll spares protected segments.
  const wiped = await r.library.removeAll();
  assert.ok(wiped >= 2);
  assert.deepEqual(kept(scratch.dir), [...info.segments].sort());
  await r.recorder.close();
});

test('moments survive a restart; a damaged moments file is set aside and the protected files stay listed', async () => {
  const r = rig(scratch.dir);
  await r.store.load();
  await r.recorder.start();
  await r.feed(6);
  const m = await r.store.mark({ note: 'kept' });
  await r.feed(6);
  await r.recorder.close();
  await r.store.reconcile();
  const before = (await r.store.list())[0];
  assert.ok(before?.complete);

  // A new store over the same folder (a restart): the same moment and segments.
  const feeder2 = HubFeeder.ofFile(samplePath, 30, T0 + 60_000);
  const r2 = rig(scratch.dir, { feeder: feeder2 });
  await r2.store.load();
  await r2.recorder.start();
  await r2.feed(10);
  const after = await r2.store.list();
  assert.equal(after.length, 1);
  assert.equal(after[0]?.id, m.id);
  assert.equal(after[0]?.note, 'kept');
  assert.deepEqual(after[0]?.segments, before.segments);
  assert.deepEqual(kept(scratch.dir), [...before.segments].sort());
  await r2.recorder.close();

  // The file is what a restart reads: valid JSON, version 1.
  const doc = JSON.parse(readFileSync(join(scratch.dir, MOMENTS_FILE), 'utf8')) as { version: number };
  assert.equal(doc.version, 1);
  writeFileSync(join(scratch.dir, MOMENTS_FILE), '{"version":1,"moments":[{"id":');
  const r3 = rig(scratch.dir, { feeder: HubFeeder.ofFile(samplePath, 30, T0 + 120_000) });
  await r3.store.load();
  assert.deepEqual(await r3.store.list(), []);
  assert.ok(readdirSync(scratch.dir).some((n) => n.startsWith(`${MOMENTS_FILE}.damaged-`)));
  const listed = (await r3.library.list()).filter((x) => x.protected).map((x) => x.name);
  assert.deepEqual(listed, before.segments, 'protected files stay protected and listed');
});

test('marks are rate-limited, capped by --max-protected (recording goes on) and their note validated', async () => {
  const r = rig(scratch.dir, { maxFiles: 0 });
  await r.store.load();
  await r.recorder.start();
  await r.feed(4);
  await r.store.mark();
  await assert.rejects(
    r.store.mark(),
    (err) => hasCode(err, 'ERR_RATE_LIMITED') && /one mark per 5 s/.test(String(err)),
  );
  r.mono.ms += 5000;
  await assert.rejects(r.store.mark({ note: 'x'.repeat(201) }), (err) => hasCode(err, 'ERR_API_BAD_REQUEST'));
  await assert.rejects(r.store.mark({ note: 'a\u0000b' }), (err) => hasCode(err, 'ERR_API_BAD_REQUEST'));
  await assert.rejects(r.store.mark({ note: 42 }), (err) => hasCode(err, 'ERR_API_BAD_REQUEST'));
  const ok = await r.store.mark({ note: '  second  ' });
  assert.equal(ok.note, 'second');
  await r.recorder.close();

  // Cap: a few hundred KB of protected data against a 100 KB cap.
  scratch.cleanup();
  scratch = scratchDir('rearview-moments-');
  const capped = rig(scratch.dir, { maxProtected: { bytes: 100_000 } });
  await capped.store.load();
  await capped.recorder.start();
  await capped.feed(6);
  await assert.rejects(
    capped.store.mark(),
    (err) =>
      hasCode(err, 'ERR_PROTECTED_FULL') &&
      /--max-protected/.test(String(err)) &&
      /recording goes on/.test(String(err)),
  );
  const segmentsBefore = capped.recorder.status.segmentsCompleted;
  await capped.feed(4);
  assert.ok(capped.recorder.status.segmentsCompleted > segmentsBefore, 'recording went on');
  assert.deepEqual(kept(scratch.dir), []);
  await capped.recorder.close();
});

test('deleting a moment deletes the protected segments no other moment holds; removeAll deletes every one', async () => {
  const r = rig(scratch.dir);
  await r.store.load();
  await r.recorder.start();
  await r.feed(6);
  const a = await r.store.mark({ note: 'a' });
  await r.feed(1);
  r.mono.ms += 5000;
  const b = await r.store.mark({ note: 'b' });
  await r.feed(8);
  const [ia, ib] = await r.store.list();
  assert.ok(ia && ib);
  const shared = ia.segments.filter((n) => ib.segments.includes(n));
  assert.ok(shared.length > 0, 'overlapping windows share segments');
  assert.deepEqual(
    r.store
      .holders(shared[0] as string)
      .map((m) => m.id)
      .sort(),
    [a.id, b.id].sort(),
  );
  const res = await r.store.remove(a.id);
  assert.deepEqual(
    res.deletedSegments,
    ia.segments.filter((n) => !ib.segments.includes(n)),
  );
  for (const n of shared) assert.ok(kept(scratch.dir).includes(n), `${n} still held by b`);
  await assert.rejects(r.store.remove(a.id), (err) => hasCode(err, 'ERR_NOT_FOUND'));
  await assert.rejects(r.store.remove('../etc'), (err) => hasCode(err, 'ERR_API_BAD_REQUEST'));
  assert.equal(await r.store.removeAll(), ib.segments.length);
  assert.deepEqual(kept(scratch.dir), []);
  assert.deepEqual(await r.store.list(), []);
  await r.recorder.close();
});
