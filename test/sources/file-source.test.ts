import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hasCode } from '../../src/errors.js';
import { parseAnnexB } from '../../src/h264/h264-stream-parser.js';
import { FileSource } from '../../src/sources/file-source.js';
import type { Clock } from '../../src/util/clock.js';
import { spawnSync } from 'node:child_process';
import { corpusFile, scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { CollectingSink, fakeSourceClock, memoryLogger, samplePath } from './source-fixtures.js';

const T0 = 1_700_000_000_000;

async function play(path: string, playMs: number, fallbackFps = 30) {
  const { clock, fake } = fakeSourceClock(T0);
  const sink = new CollectingSink(() => fake.now());
  const { logger, lines } = memoryLogger();
  const source = new FileSource(path, { logger, clock, fallbackFps });
  await source.start(sink);
  fake.advance(playMs);
  await source.close();
  return { source, sink, fake, lines };
}

describe('FileSource', () => {
  it('plays the sample at its VUI rate, frame n at start + n/30 s, exact across the loop, no discontinuity', async () => {
    const { source, sink, fake } = await play(samplePath, 21_000);
    assert.equal(source.fps, 30);
    const aus = sink.accessUnits;
    // 0 .. 21000 ms inclusive at 30 fps: 631 frames, i.e. two loops of 300 and 31 more.
    assert.equal(aus.length, 631);
    assert.equal(source.loops, 2);
    for (let n = 0; n < aus.length; n++) {
      const expected = T0 + (n * 1000) / 30;
      assert.ok(
        Math.abs(aus[n]!.atMono - expected) < 1e-6,
        `frame ${n} at ${aus[n]!.atMono - T0} ms, expected ${expected - T0}`,
      );
      assert.equal(aus[n]!.capturedAtMs, aus[n]!.atMono, 'capturedAtMs is the wall clock at emission');
    }
    // The wrap: frame 300 is the file's first frame again, an IDR with its SPS/PPS, on the same cadence.
    for (const n of [0, 300, 600]) {
      assert.equal(aus[n]!.au.isKey, true);
      assert.deepEqual(aus[n]!.au.nals.map((x) => x.type).slice(0, 2), [7, 8]);
    }
    assert.equal(aus[299]!.au.isKey, false);
    assert.equal(aus[300]!.atMono - aus[299]!.atMono, aus[1]!.atMono - aus[0]!.atMono);
    assert.deepEqual(sink.discontinuities, [], 'a clean loop of a file that starts with an IDR is not a discontinuity');
    assert.equal(fake.pending, 0, 'close() cancelled the timer');
  });

  it('uses the configured rate when the SPS has no VUI timing', async () => {
    // A Raspberry Pi hardware-encoder capture without timing info.
    const { source, sink } = await play(corpusFile('test.h264'), 1000, 25);
    assert.equal(source.fps, 25);
    const aus = sink.accessUnits;
    assert.equal(aus.length, 26);
    assert.equal(aus[25]!.atMono - aus[0]!.atMono, 1000);
  });

  it('gives each field picture half a frame interval', async () => {
    const { sink } = await play(corpusFile('CVFI1_SVA_C.264'), 1000, 30);
    const aus = sink.accessUnits;
    assert.equal(aus[0]!.au.structure, 'top');
    assert.equal(aus.length, 61, 'field access units at 60 per second');
  });

  it('starts at the first IDR and loops back to it', async () => {
    // This file has a non-IDR picture before its IDR.
    const path = corpusFile('input-sps-pps-non-idr-sps-pps-idr.h264');
    assert.equal(parseAnnexB(readFileSync(path)).accessUnits[0]!.isKey, false);
    const { sink, lines } = await play(path, 3000);
    assert.ok(sink.accessUnits.length >= 3);
    assert.ok(sink.accessUnits.every((e) => e.au.isKey));
    assert.deepEqual(sink.discontinuities, []);
    assert.ok(lines.some((l) => l.includes('skipping 1 access units before the first IDR')));
  });

  it('re-anchors instead of bursting when it falls far behind', async () => {
    const { clock: base, fake } = fakeSourceClock(T0);
    let jumpMs = 0;
    // A clock whose monotonic time jumps without firing timers, as after a blocked event loop.
    const clock: Clock = { ...base, monoNow: () => fake.now() + jumpMs };
    const sink = new CollectingSink(() => fake.now());
    const { logger, lines } = memoryLogger();
    const source = new FileSource(samplePath, { logger, clock });
    await source.start(sink);
    fake.advance(100);
    const before = sink.accessUnits.length;
    jumpMs = 5000;
    fake.advance(34);
    assert.equal(sink.accessUnits.length, before + 1, 'one frame, not 150 at once');
    assert.ok(lines.some((l) => l.includes('re-anchoring')));
    await source.close();
  });

  it('rejects a file that is not H.264, one without an IDR, and a missing file', async () => {
    const { dir, cleanup } = scratchDir();
    try {
      const text = join(dir, 'notes.txt');
      writeFileSync(text, 'hello, this is not video\n'.repeat(100));
      const sample = readFileSync(samplePath);
      const aus = parseAnnexB(sample).accessUnits;
      const first = aus[1]!;
      const last = aus[29]!;
      const noIdr = join(dir, 'p-frames.h264');
      writeFileSync(noIdr, sample.subarray(first.offset, last.offset + last.byteLength));
      const { logger } = memoryLogger();
      const sink = new CollectingSink();
      await assert.rejects(
        new FileSource(text, { logger }).start(sink),
        (err) => hasCode(err, 'ERR_H264_NO_START_CODE') && /not an H\.264/.test((err as Error).message),
      );
      await assert.rejects(
        new FileSource(noIdr, { logger }).start(sink),
        (err) => hasCode(err, 'ERR_H264_INVALID') && /no IDR/.test((err as Error).message),
      );
      await assert.rejects(new FileSource(join(dir, 'missing.h264'), { logger }).start(sink), (err) =>
        hasCode(err, 'ERR_NOT_FOUND'),
      );
    } finally {
      cleanup();
    }
  });

  it('plays MP4 and Matroska files (told by content, not name) at their timestamps, keyframes with SPS/PPS, looped', async () => {
    const ffmpeg = requireTool('ffmpeg');
    const { dir, cleanup } = scratchDir();
    try {
      const reference = parseAnnexB(readFileSync(samplePath)).accessUnits;
      // The sample in containers, named misleadingly: the content decides.
      const mp4 = join(dir, 'ride.h264');
      const mkv = join(dir, 'ride.mp4');
      for (const [out, format] of [
        [mp4, 'mp4'],
        [mkv, 'matroska'],
      ] as const) {
        const r = spawnSync(ffmpeg, ['-v', 'error', '-r', '25', '-i', samplePath, '-c', 'copy', '-f', format, out]);
        assert.equal(r.status, 0, String(r.stderr));
      }
      for (const path of [mp4, mkv]) {
        const { source, sink, fake, lines } = await play(path, 12_000);
        assert.equal(source.fps, 25, `${path}: container timing, 40 ms a frame`);
        assert.ok(
          lines.some((l) => /from (MP4|Matroska) at 25 fps \(container timestamps\)/.test(l)),
          lines.join('\n'),
        );
        const aus = sink.accessUnits;
        // 0 .. 12000 ms inclusive at 25 fps: 301 frames, one loop of the 300-frame sample and one more.
        assert.equal(aus.length, 301, path);
        assert.equal(aus[0]!.atMono - fake.now() + 12_000, 0);
        assert.equal(aus[300]!.atMono - aus[0]!.atMono, 12_000, 'frame 300 (the loop back to the first IDR) at 12 s');
        for (const k of [0, 300]) {
          assert.equal(aus[k]!.au.isKey, true);
          assert.deepEqual(
            aus[k]!.au.nals.slice(0, 2).map((n) => n.type),
            [7, 8],
            'SPS/PPS in front of the keyframe',
          );
        }
        for (let i = 0; i < 300; i++) {
          const slices = (a: (typeof reference)[number]) =>
            a.nals.filter((n) => n.type === 1 || n.type === 5).map((n) => Buffer.from(n.data).toString('base64'));
          assert.deepEqual(
            slices(aus[i]!.au),
            slices(reference[i]!),
            `AU ${i}: the same slices as the Annex-B original`,
          );
        }
        assert.deepEqual(sink.discontinuities, []);
      }
    } finally {
      cleanup();
    }
  });

  it('refuses a container without H.264 with one clear line', async () => {
    const ffmpeg = requireTool('ffmpeg');
    const { dir, cleanup } = scratchDir();
    try {
      const webm = join(dir, 'clip.webm');
      const r = spawnSync(ffmpeg, [
        '-v',
        'error',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=160x120:rate=10',
        '-frames:v',
        '5',
        '-c:v',
        'libvpx',
        webm,
      ]);
      assert.equal(r.status, 0, String(r.stderr));
      const { logger } = memoryLogger();
      await assert.rejects(
        new FileSource(webm, { logger }).start(new CollectingSink()),
        (err) => hasCode(err, 'ERR_H264_UNSUPPORTED') && /vp8, not H\.264/.test((err as Error).message),
      );
      // An MP4 box header with no usable content.
      const fake = join(dir, 'broken.mp4');
      writeFileSync(
        fake,
        Buffer.concat([Buffer.from([0, 0, 0, 16]), Buffer.from('ftypisom'), Buffer.alloc(4), Buffer.alloc(2000, 0x41)]),
      );
      await assert.rejects(
        new FileSource(fake, { logger }).start(new CollectingSink()),
        (err) => hasCode(err, 'ERR_H264_UNSUPPORTED') || hasCode(err, 'ERR_H264_INVALID'),
      );
    } finally {
      cleanup();
    }
  });
});
