import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { splitAnnexB } from '../../src/h264/annexb-scanner.js';
import { StreamHub, TRAILING_AUD } from '../../src/hub/stream-hub.js';
import { buildCaptureTimeSei, isCaptureTimeSei, readCaptureTimeSei } from '../../src/h264/capture-time-sei.js';
import type { StreamFrame, StreamParams } from '../../src/hub/stream-frame.js';
import { accessUnitsOfFile, samplePath } from './access-units.js';
import { FakeClock } from '../support/fake-clock.js';
import { corpusFile, scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const FRAME_MS = 1000 / 30;

/** Publishes `aus` at 30 fps on the fake clock, capture times on a wall clock from `t0`. */
function feed(hub: StreamHub, clock: FakeClock, aus: AccessUnit[], t0 = 1_700_000_000_000): void {
  aus.forEach((au, i) => {
    hub.accessUnit(au, t0 + Math.round(i * FRAME_MS));
    clock.advance(FRAME_MS);
  });
}

function withoutParameterSetsAfterFirst(aus: AccessUnit[]): AccessUnit[] {
  return aus.map((au, i) => (i === 0 ? au : { ...au, nals: au.nals.filter((n) => n.type !== 7 && n.type !== 8) }));
}

function types(frame: StreamFrame): number[] {
  return frame.nals.map((n) => n.type);
}

const sample = accessUnitsOfFile(samplePath);

describe('StreamHub', () => {
  it('publishes keyframes with SPS+PPS first, no AUDs, and a trailing AUD in the served bytes', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    const reader = hub.addReader({ name: 'all', join: 'next-keyframe', softLimitBytes: 1e9, softLimitMs: 1e9 });
    feed(hub, clock, sample.slice(0, 90));
    const frames: StreamFrame[] = [];
    for (let f = reader.read(); f; f = reader.read()) frames.push(f);
    assert.equal(frames.length, 90);
    assert.equal(frames.filter((f) => f.isKey).length, 3);
    for (const f of frames) {
      assert.ok(!types(f).includes(9), 'no AUD inside a frame');
      assert.deepEqual([...f.annexB.subarray(f.annexB.length - 6)], [...TRAILING_AUD]);
      // The served bytes re-split give exactly frame.nals plus the trailing AUD.
      assert.deepEqual(
        splitAnnexB(f.annexB).map((n) => n.type),
        [...types(f), 9],
      );
      if (f.isKey) assert.deepEqual(types(f).slice(0, 2), [7, 8]);
      else assert.ok(!types(f).includes(7) && !types(f).includes(8));
    }
    assert.deepEqual(
      frames.map((f) => f.seq),
      frames.map((_, i) => i),
    );
    assert.equal(hub.params?.generation, 1);
    assert.equal(hub.params?.codec, 'avc1.42c01e');
    assert.equal(hub.params?.width, 640);
  });

  it('puts the SPS and PPS in front of every IDR even when the encoder sent them once', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    const reader = hub.addReader({ name: 'r', join: 'next-keyframe', softLimitBytes: 1e9, softLimitMs: 1e9 });
    feed(hub, clock, withoutParameterSetsAfterFirst(sample.slice(0, 120)));
    let keys = 0;
    for (let f = reader.read(); f; f = reader.read()) {
      if (!f.isKey) continue;
      keys++;
      assert.deepEqual(types(f).slice(0, 2), [7, 8]);
      assert.deepEqual([...f.nals[0]!.data], [...f.params.spsNal]);
    }
    assert.equal(keys, 4);
    // A reader joining later still starts with SPS+PPS+IDR.
    const late = hub.addReader({ name: 'late' });
    const first = late.read();
    assert.ok(first?.isKey);
    assert.deepEqual(types(first).slice(0, 3), [7, 8, 5]);
  });

  it('drops everything before the first parameter sets and IDR', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    const reader = hub.addReader({ name: 'r', softLimitBytes: 1e9, softLimitMs: 1e9 });
    feed(hub, clock, sample.slice(5, 40)); // starts mid-GOP: frames 5..29 have no usable reference
    const first = reader.read();
    assert.ok(first?.isKey);
    assert.equal(hub.stats().framesWaitingForKey, 25);
  });

  it('starts a new generation on a parameter-set change and on a discontinuity, at the next IDR', async () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    const seen: StreamParams[] = [];
    hub.on('params', (p) => seen.push(p));
    feed(hub, clock, sample.slice(0, 45));
    const gen1 = hub.params!;
    // Same stream with a different SPS (level byte changed): a "new encoder setting".
    const changed = sample.slice(45, 75).map((au) => ({
      ...au,
      nals: au.nals.map((n) =>
        n.type === 7 ? { ...n, data: Uint8Array.from(n.data, (b, i) => (i === 3 ? 0x1f : b)) } : n,
      ),
    }));
    feed(hub, clock, changed);
    assert.equal(hub.params!.generation, 2);
    assert.equal(hub.params!.codec, 'avc1.42c01f');
    assert.notEqual(hub.params, gen1);
    hub.discontinuity('test restart');
    const reader = hub.addReader({ name: 'after', softLimitBytes: 1e9, softLimitMs: 1e9 });
    feed(hub, clock, sample.slice(75, 100)); // 75..89 are not keyframes: dropped
    assert.equal(hub.params!.generation, 3);
    const first = reader.read();
    assert.ok(first?.isKey);
    assert.equal(first.params.generation, 3);
    await Promise.resolve();
    assert.deepEqual(
      seen.map((p) => p.generation),
      [1, 2, 3],
    );
  });

  it('handles a resolution change without a discontinuity: new generation with the new size at its IDR', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    const reader = hub.addReader({ name: 'r', softLimitBytes: 1e9, softLimitMs: 1e9 });
    feed(hub, clock, sample.slice(0, 40));
    const big = accessUnitsOfFile(corpusFile('test_1920x1080.h264'));
    feed(hub, clock, big);
    assert.equal(hub.params!.width, 1920);
    assert.equal(hub.params!.height, 1080);
    assert.equal(hub.params!.generation, 2);
    const frames: StreamFrame[] = [];
    for (let f = reader.read(); f; f = reader.read()) frames.push(f);
    const firstBig = frames.findIndex((f) => f.params.width === 1920);
    assert.ok(firstBig === 40 && frames[firstBig]!.isKey);
    assert.deepEqual(types(frames[firstBig]!).slice(0, 2), [7, 8]);
  });

  it('timestamps frames from capture time with monotonic 90 kHz dts', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    const reader = hub.addReader({ name: 'r', softLimitBytes: 1e9, softLimitMs: 1e9 });
    const t0 = 1_700_000_000_000;
    for (const [i, au] of sample.slice(0, 10).entries()) hub.accessUnit(au, i === 5 ? t0 + 100 : t0 + i * 33); // frame 5 jumps ahead of 6
    const frames: StreamFrame[] = [];
    for (let f = reader.read(); f; f = reader.read()) frames.push(f);
    assert.equal(frames[0]!.dts90k, 0);
    assert.equal(frames[1]!.dts90k, 33 * 90);
    for (let i = 1; i < frames.length; i++) assert.ok(frames[i]!.dts90k > frames[i - 1]!.dts90k);
    for (const f of frames) assert.equal(f.pts90k, f.dts90k); // Baseline: no reordering
    assert.equal(frames[3]!.capturedAtMs, t0 + 99);
  });

  /**
   * Feeds `aus` through a hub and checks: dts strictly increases, pts never
   * precedes dts, and within each POC epoch (IDR or MMCO5) presentation order
   * by pts equals picture order count order with distinct pts. The first
   * `skipEpochs` epochs are not checked: without VUI bitstream_restriction
   * the hub learns the POC step and reorder depth from them.
   */
  function checkPresentationOrder(aus: AccessUnit[], skipEpochs = 0): void {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now });
    const reader = hub.addReader({ name: 'r', softLimitBytes: 1e9, softLimitMs: 1e9 });
    feed(hub, clock, aus);
    const frames: StreamFrame[] = [];
    for (let f = reader.read(); f; f = reader.read()) frames.push(f);
    assert.equal(frames.length, aus.length);
    for (let i = 1; i < frames.length; i++) assert.ok(frames[i]!.dts90k > frames[i - 1]!.dts90k, `dts ${i}`);
    for (const f of frames) assert.ok(f.pts90k >= f.dts90k, `pts >= dts at ${f.seq}`);
    let epoch: { pts: number; poc: number }[] = [];
    let epochIndex = 0;
    const check = (): void => {
      if (epochIndex++ < skipEpochs) return;
      const byPts = [...epoch].sort((a, b) => a.pts - b.pts).map((x) => x.poc);
      assert.deepEqual(
        byPts,
        [...byPts].sort((a, b) => a - b),
      );
      assert.equal(new Set(epoch.map((x) => x.pts)).size, epoch.length, 'distinct pts');
    };
    frames.forEach((f, i) => {
      const au = aus[i]!;
      if ((au.pocReset ?? au.isKey) && epoch.length > 0) {
        check();
        epoch = [];
      }
      epoch.push({ pts: f.pts90k, poc: au.poc! });
    });
    check();
  }

  it('B-frame streams: pts follows picture order, dts strictly increases, pts never precedes dts', () => {
    const scratch = scratchDir();
    try {
      const file = join(scratch.dir, 'bframes.h264');
      execFileSync(requireTool('ffmpeg'), [
        '-v',
        'error',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=320x240:rate=30',
        '-t',
        '2',
        '-c:v',
        'libx264',
        '-profile:v',
        'high',
        '-bf',
        '2',
        '-g',
        '12',
        '-f',
        'h264',
        file,
      ]);
      const aus = accessUnitsOfFile(file);
      assert.ok(
        aus.some((au) => au.sliceTypes.includes(1)),
        'the stream has B slices',
      );
      checkPresentationOrder(aus);
    } finally {
      scratch.cleanup();
    }
  });

  // Regression: pts assumed a POC step of 2 per picture and an epoch per IDR only, so streams
  // whose POC steps by 1 (or per field) or resets with MMCO5 got colliding or misordered pts.
  // These streams have no VUI bitstream_restriction and a single IDR: played twice, the first
  // pass teaches the hub and the second (a new epoch from its IDR) must come out exactly ordered.
  for (const name of ['CVFI1_SVA_C.264', 'CABREF3_Sand_D.264', 'FRExt_MMCO4_Sony_B.264', 'CAPAMA3_Sand_F.264']) {
    it(`presentation order of the corpus stream ${name}`, () => {
      const aus = accessUnitsOfFile(corpusFile(name)).filter((au) => au.sliceTypes.length > 0);
      assert.equal(aus.filter((au) => au.pocReset ?? au.isKey).length, 1);
      checkPresentationOrder([...aus, ...aus], 1);
    });
  }

  // Regression: our SEI went before the encoder's own SEI NAL units; 7.4.1.2.3 keeps a
  // buffering-period SEI first, so ours now goes last, right before the picture.
  it("inserts the capture-time SEI after the parameter sets and the encoder's SEI, before the picture", () => {
    const clock = new FakeClock(1000);
    const sei = (ms: number): Uint8Array => Uint8Array.of(0x06, 0x05, 0x01, ms & 0xff, 0x80);
    const hub = new StreamHub({ clock: clock.now, captureTimeSei: sei });
    const reader = hub.addReader({ name: 'r', softLimitBytes: 1e9, softLimitMs: 1e9 });
    feed(hub, clock, sample.slice(0, 3));
    const key = reader.read()!;
    assert.deepEqual(types(key).slice(0, 5), [7, 8, 6, 6, 5]); // the encoder's own SEI, then ours, then the IDR
    assert.deepEqual([...key.nals[3]!.data], [...sei(key.capturedAtMs)]);
    assert.equal(types(reader.read()!)[0], 6);
  });

  // The daemon passes buildCaptureTimeSei itself, which the hub writes straight into the frame
  // buffer (no per-frame allocation): it must give the same bytes as any other SEI function.
  it('writes the standard capture-time SEI in place, byte-identical to the copying path', () => {
    const run = (captureTimeSei: (ms: number) => Uint8Array): StreamFrame[] => {
      const clock = new FakeClock(1000);
      const hub = new StreamHub({ clock: clock.now, captureTimeSei });
      const reader = hub.addReader({ name: 'r', softLimitBytes: 1e9, softLimitMs: 1e9 });
      // Capture times whose microsecond bytes need emulation prevention are among them.
      sample.slice(0, 90).forEach((au, i) => {
        hub.accessUnit(au, 1_700_000_000_000 + i * 33.367 + (i % 7) * 0.256);
        clock.advance(FRAME_MS);
      });
      const frames: StreamFrame[] = [];
      for (let f = reader.read(); f; f = reader.read()) frames.push(f);
      return frames;
    };
    const direct = run(buildCaptureTimeSei);
    const copied = run((ms) => buildCaptureTimeSei(ms));
    assert.equal(direct.length, 90);
    direct.forEach((f, i) => {
      assert.deepEqual(Buffer.from(f.annexB), Buffer.from(copied[i]!.annexB), `frame ${i}`);
      const sei = f.nals.find((n) => isCaptureTimeSei(n.data));
      assert.ok(sei, `frame ${i} carries the SEI`);
      assert.ok(Math.abs(readCaptureTimeSei(sei.data)! - f.capturedAtMs) < 0.001, `frame ${i} time`);
    });
    assert.deepEqual(types(direct[0]!).slice(0, 5), [7, 8, 6, 6, 5], 'after the encoder SEI, before the IDR');
  });

  it('measures fps and bitrate over a sliding window', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now, statsWindowMs: 1000 });
    feed(hub, clock, sample.slice(0, 90));
    const s = hub.stats();
    assert.equal(s.frames, 90);
    assert.ok(Math.abs(s.fps - 30) <= 1, `fps ${s.fps}`);
    assert.ok(s.bitrateBps > 500_000 && s.bitrateBps < 2_000_000, `bitrate ${s.bitrateBps}`);
    clock.advance(5000);
    assert.equal(hub.stats().fps, 0);
  });

  it('keeps a bounded GOP cache: an oversized GOP is not cached and joiners wait for the next keyframe', () => {
    const clock = new FakeClock(1000);
    const hub = new StreamHub({ clock: clock.now, gopCacheMaxFrames: 10 });
    feed(hub, clock, sample.slice(0, 35));
    assert.equal(hub.stats().gopCacheFrames, 5); // frames 30..34
    const a = hub.addReader({ name: 'a' });
    assert.equal(a.stats.queuedFrames, 5);
    feed(hub, clock, sample.slice(35, 50)); // GOP grows past 10 frames
    assert.equal(hub.stats().gopCacheFrames, 0);
    const b = hub.addReader({ name: 'b' });
    assert.equal(b.read(), undefined);
    feed(hub, clock, sample.slice(50, 61));
    assert.ok(b.read()?.isKey);
  });

  it('close() closes readers and is idempotent', async () => {
    const hub = new StreamHub();
    const r = hub.addReader({ name: 'r' });
    await hub.close();
    await hub.close();
    assert.ok(r.isClosed);
    assert.equal(hub.stats().readers, 0);
  });
});
