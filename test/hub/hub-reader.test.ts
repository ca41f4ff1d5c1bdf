import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { StreamHub } from '../../src/hub/stream-hub.js';
import { accessUnitsOfFile, samplePath } from './access-units.js';
import { FakeClock } from '../support/fake-clock.js';

const sample = accessUnitsOfFile(samplePath);
const FRAME_MS = 1000 / 30;

function feed(hub: StreamHub, clock: FakeClock, aus: AccessUnit[]): void {
  for (const au of aus) {
    hub.accessUnit(au, Date.now());
    clock.advance(FRAME_MS);
  }
}

describe('HubReader', () => {
  it('joins at the latest keyframe with the cached GOP, or waits for the next one', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    feed(hub, clock, sample.slice(0, 40));
    const latest = hub.addReader({ name: 'latest', join: 'latest-keyframe' });
    const next = hub.addReader({ name: 'next', join: 'next-keyframe' });
    assert.equal(latest.stats.queuedFrames, 10);
    assert.equal(latest.read()?.seq, 30);
    assert.equal(next.read(), undefined);
    feed(hub, clock, sample.slice(40, 61));
    assert.equal(next.read()?.seq, 60);
    assert.equal(next.stats.framesDropped, 20);
  });

  it('live-edge, keyframe: sends the cached keyframe alone, then nothing until the next keyframe', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    const t0 = 1_700_000_000_000;
    sample.slice(0, 40).forEach((au, i) => {
      hub.accessUnit(au, t0 + i * FRAME_MS);
      clock.advance(FRAME_MS);
    });
    const edge = hub.addReader({ name: 'edge', join: 'live-edge' });
    assert.equal(edge.liveEdge, 'keyframe');
    assert.equal(edge.stats.queuedFrames, 1);
    const still = edge.read();
    assert.equal(still?.seq, 30);
    assert.equal(still?.isKey, true);
    assert.equal(edge.isCatchUp(still as NonNullable<typeof still>), false);
    // The still stands for the live edge at join time: the newest cached frame's capture time.
    assert.equal(edge.presentationCaptureTime(still as NonNullable<typeof still>), t0 + 39 * FRAME_MS);
    sample.slice(40, 62).forEach((au, i) => {
      hub.accessUnit(au, t0 + (40 + i) * FRAME_MS);
      clock.advance(FRAME_MS);
    });
    const seqs: number[] = [];
    for (let f = edge.read(); f; f = edge.read()) {
      seqs.push(f.seq);
      assert.equal(edge.presentationCaptureTime(f), f.capturedAtMs);
    }
    assert.deepEqual(seqs, [60, 61]); // none of the old GOP's P frames
    assert.equal(edge.stats.framesDropped, 9 + 20);
  });

  it('live-edge, keyframe: a cache holding only the keyframe is the live edge, nothing is skipped', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    feed(hub, clock, sample.slice(0, 31)); // cache: keyframe 30 alone
    const edge = hub.addReader({ name: 'edge', join: 'live-edge' });
    feed(hub, clock, sample.slice(31, 33));
    assert.deepEqual([edge.read()?.seq, edge.read()?.seq, edge.read()?.seq], [30, 31, 32]);
    assert.equal(edge.stats.framesDropped, 0);
  });

  it('live-edge, catch-up: the whole cached GOP at once, every frame but the newest marked catch-up', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    feed(hub, clock, sample.slice(0, 40));
    const edge = hub.addReader({ name: 'edge', join: 'live-edge', liveEdge: 'catch-up' });
    feed(hub, clock, sample.slice(40, 42));
    const got: Array<[number, boolean]> = [];
    for (let f = edge.read(); f; f = edge.read()) got.push([f.seq, edge.isCatchUp(f)]);
    assert.deepEqual(
      got,
      Array.from({ length: 12 }, (_, i) => [30 + i, 30 + i < 39] as [number, boolean]),
    );
    // A latest-keyframe reader gets the same frames, none marked.
    const latest = hub.addReader({ name: 'latest', join: 'latest-keyframe' });
    for (let f = latest.read(); f; f = latest.read()) assert.equal(latest.isCatchUp(f), false);
  });

  it('refuses an unknown join policy or live-edge mode', () => {
    const hub = new StreamHub();
    assert.throws(() => hub.addReader({ name: 'x', join: 'oldest' as never }), RangeError);
    assert.throws(() => hub.addReader({ name: 'x', join: 'live-edge', liveEdge: 'all' as never }), RangeError);
  });

  // Regression: a cached GOP bigger than the client's soft byte limit was queued at join and
  // then dropped whole at the next published frame, so the new client waited a GOP for a picture.
  it('delivers a join-time GOP larger than the soft byte limit, then applies the limit again', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    feed(hub, clock, sample.slice(0, 50)); // cache: keyframe 30 and 19 frames after it
    const cachedBytes = hub.stats().gopCacheBytes;
    const reader = hub.addReader({ name: 'big-gop', softLimitBytes: Math.floor(cachedBytes / 4), softLimitMs: 60_000 });
    feed(hub, clock, sample.slice(50, 52)); // the client has not read yet: still within the burst allowance
    assert.equal(reader.stats.framesDropped, 0);
    const seqs: number[] = [];
    for (let f = reader.read(); f; f = reader.read()) seqs.push(f.seq);
    assert.deepEqual(
      seqs,
      Array.from({ length: 22 }, (_, i) => 30 + i),
    );
    // Burst consumed: a backlog over the limit skips to the next keyframe as usual.
    feed(hub, clock, sample.slice(52, 59));
    assert.ok(reader.stats.dropEvents > 0, 'the soft limit applies once the join burst is read');
  });

  it('calls onReadable synchronously when a frame lands in an empty queue', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    const reader = hub.addReader({ name: 'r' });
    let calls = 0;
    reader.onReadable(() => calls++);
    feed(hub, clock, sample.slice(0, 3));
    assert.equal(calls, 1); // queue went empty -> non-empty once
    while (reader.read());
    feed(hub, clock, sample.slice(3, 4));
    assert.equal(calls, 2);
  });

  it('skips a slow reader to the next keyframe, never delivering a frame without its reference', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    const reader = hub.addReader({
      name: 'slow',
      join: 'next-keyframe',
      softLimitBytes: 60_000,
      softLimitMs: 10_000,
      hardLimitMs: 60_000,
    });
    feed(hub, clock, sample.slice(0, 45)); // never read: backlog passes 60 kB within the first GOP
    assert.ok(reader.stats.dropEvents >= 1);
    assert.ok(reader.stats.queuedBytes <= 60_000 + 100_000);
    // Everything still queued or delivered from now on decodes: the queue starts at a keyframe...
    const first = reader.read();
    assert.ok(first === undefined || first.isKey);
    // ...and, when waiting, the next thing delivered is the next keyframe.
    while (reader.read());
    feed(hub, clock, sample.slice(45, 70));
    const after = reader.read();
    assert.ok(after?.isKey, 'after a skip the reader resumes at a keyframe');
    assert.equal(after.seq, 60);
    let prev = after.seq;
    for (let f = reader.read(); f; f = reader.read()) {
      assert.equal(f.seq, prev + 1, 'no gaps after resuming');
      prev = f.seq;
    }
    assert.ok(reader.stats.framesDropped > 0);
  });

  it('skips when the oldest queued frame waited longer than softLimitMs', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    const reader = hub.addReader({
      name: 'late',
      join: 'next-keyframe',
      softLimitBytes: 1e9,
      softLimitMs: 200,
      hardLimitMs: 60_000,
    });
    feed(hub, clock, sample.slice(0, 10)); // 10 frames = 333 ms > 200 ms
    assert.equal(reader.stats.dropEvents, 1);
    assert.equal(reader.stats.queuedFrames, 0);
    assert.equal(reader.stats.framesDropped, 10);
  });

  it('reports a stalled reader once, after hardLimitMs over the soft limit without progress', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    const reader = hub.addReader({ name: 'stalled', softLimitBytes: 100_000, softLimitMs: 500, hardLimitMs: 3000 });
    let stalled = 0;
    reader.onStalled(() => stalled++);
    feed(hub, clock, sample.slice(0, 60)); // 2 s
    assert.equal(stalled, 0);
    feed(hub, clock, sample.slice(60, 120)); // 4 s
    assert.equal(stalled, 1);
    feed(hub, clock, sample.slice(120, 180));
    assert.equal(stalled, 1);
  });

  it('reports going behind at a skip over the soft limit and catching up when its queue empties', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    const reader = hub.addReader({
      name: 'behind',
      join: 'next-keyframe',
      softLimitBytes: 2_000_000,
      softLimitMs: 500,
      hardLimitMs: 60_000,
    });
    const changes: Array<[boolean, number]> = [];
    reader.onBehindChange((behind) => changes.push([behind, clock.now()]));
    feed(hub, clock, sample.slice(0, 31)); // from the IDR at 0: the oldest frame is 1 s old, over 500 ms
    assert.equal(changes.length, 1);
    assert.equal(changes[0]![0], true);
    assert.equal(reader.behind, true);
    while (reader.read()) {
      // drain
    }
    assert.deepEqual(
      changes.map(([b]) => b),
      [true, false],
    );
    assert.equal(reader.behind, false);
    feed(hub, clock, sample.slice(31, 33));
    reader.read();
    assert.equal(changes.length, 2, 'a reader that keeps up reports nothing');
  });

  it('does not report a reader that keeps reading, however slowly', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    const reader = hub.addReader({ name: 'slowish', softLimitBytes: 30_000, softLimitMs: 500, hardLimitMs: 1000 });
    let stalled = 0;
    reader.onStalled(() => stalled++);
    sample.slice(0, 280).forEach((au, i) => {
      hub.accessUnit(au, Date.now());
      clock.advance(FRAME_MS);
      if (i % 10 === 0) reader.read();
    });
    assert.equal(stalled, 0);
    assert.ok(reader.stats.dropEvents > 0);
  });

  it('keeps memory bounded for a reader that never reads', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    const reader = hub.addReader({ name: 'never', softLimitBytes: 200_000, softLimitMs: 100_000, hardLimitMs: 1e9 });
    let maxQueued = 0;
    for (let loop = 0; loop < 3; loop++) {
      for (const au of sample) {
        hub.accessUnit(au, Date.now());
        clock.advance(FRAME_MS);
        maxQueued = Math.max(maxQueued, reader.stats.queuedBytes);
      }
    }
    assert.ok(maxQueued <= 200_000 + 150_000, `queued ${maxQueued}`);
  });

  it('delivers every frame once and in order while its queue array is compacted and reused in place', () => {
    // The queue array is emptied and compacted in place (no fresh array per frame): check that
    // partial reads across a compaction neither lose, repeat nor reorder frames, and the counts stay right.
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    const reader = hub.addReader({ name: 'r', softLimitBytes: 1e12, softLimitMs: 1e9, hardLimitMs: 1e9 });
    const seqs: number[] = [];
    const readN = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const f = reader.read();
        if (!f) return;
        seqs.push(f.seq);
      }
    };
    feed(hub, clock, sample.slice(0, 150));
    readN(100); // head passes 64 and half the queue: compaction
    assert.equal(reader.stats.queuedFrames, 50);
    feed(hub, clock, sample.slice(150, 220));
    readN(30);
    assert.equal(reader.stats.queuedFrames, 90);
    readN(1000); // empties the queue: length reset in place
    assert.equal(reader.stats.queuedFrames, 0);
    assert.equal(reader.stats.queuedBytes, 0);
    feed(hub, clock, sample.slice(220, 230));
    readN(1000);
    assert.deepEqual(
      seqs,
      Array.from({ length: 230 }, (_, i) => i),
    );
    assert.equal(reader.stats.framesDelivered, 230);
  });

  it('close() detaches from the hub and is idempotent', () => {
    const hub = new StreamHub();
    const r = hub.addReader({ name: 'r' });
    assert.equal(hub.stats().readers, 1);
    r.close();
    r.close();
    assert.equal(hub.stats().readers, 0);
    hub.accessUnit(sample[0]!, Date.now());
    assert.equal(r.read(), undefined);
  });
});
