/**
 * The Matroska helpers on their own: the in-place Info patch, and the repair
 * of a segment cut at any byte (the power-cut case without the timing luck
 * of a real kill): every complete frame before the cut is kept (counted
 * independently, by ffprobe on the uncut file), the file decodes without
 * errors and has the right duration.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  buildInfoBody,
  patchMatroskaInfo,
  readMatroskaHeader,
  repairMatroska,
  scanMatroska,
} from '../../src/recorder/matroska-file.js';
import { Recorder } from '../../src/recorder/recorder.js';
import { samplePath } from '../hub/access-units.js';
import { scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { decodeErrors, HubFeeder, probe } from './recording-fixtures.js';

async function recordSegment(dir: string, frames: number): Promise<string> {
  const feeder = HubFeeder.ofFile(samplePath, 30, Date.UTC(2026, 0, 2));
  const recorder = new Recorder({
    hub: feeder.hub,
    dir,
    segmentMs: 600_000,
    thumbnails: false,
    retentionIntervalMs: 0,
    limits: { maxFiles: 0, maxBytes: 0, minFreeBytes: 0, minFreePercent: 0 },
  });
  await recorder.start();
  feeder.push(frames);
  await recorder.flush();
  await recorder.close();
  return join(dir, 'log0000.mkv');
}

test('Info patch keeps the element length and round-trips Duration and DateUTC', async () => {
  for (const length of [35, 36, 37, 49, 200]) {
    const body = buildInfoBody(length, {
      timestampScaleNs: 1_000_000,
      durationMs: 60_000,
      startedAtMs: Date.UTC(2026, 0, 2),
    });
    assert.ok(body, `fits in ${length} bytes`);
    assert.equal(body.length, length);
  }
  assert.equal(
    buildInfoBody(34, { timestampScaleNs: 1_000_000, durationMs: 60_000, startedAtMs: 0 }),
    undefined,
    'too small: refused, not overflowed',
  );
  const { dir, cleanup } = scratchDir();
  try {
    const path = await recordSegment(dir, 60);
    const before = readFileSync(path);
    assert.equal(await patchMatroskaInfo(path, { durationMs: 1234 }), true);
    const after = readFileSync(path);
    assert.equal(after.length, before.length);
    const h = await readMatroskaHeader(path);
    assert.equal(h.durationMs, 1234);
    assert.equal(h.startedAtMs, Date.UTC(2026, 0, 2), 'DateUTC kept when only Duration is patched');
    assert.equal(h.width, 640);
    // Only the Info element changed.
    const changed = [...after].map((b, i) => (b !== before[i] ? i : -1)).filter((i) => i >= 0);
    assert.ok(changed.every((i) => i >= h.infoBodyOffset && i < h.infoBodyOffset + h.infoBodyLength));
  } finally {
    cleanup();
  }
});

test('a segment cut at any byte is repaired: every complete frame kept, no decode errors, right duration', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const path = await recordSegment(dir, 90);
    const bytes = readFileSync(path);
    const full = await scanMatroska(path);
    assert.equal(full.blocks, 90);
    assert.equal(full.hasCues, true);
    // Where each block ends, from ffprobe on the uncut file (independent of scanMatroska, which the
    // repair itself uses): a SimpleBlock without lacing ends where its frame data ends, pos + size.
    const packets = spawnSync(
      requireTool('ffprobe'),
      ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pos,size', '-of', 'csv=p=0', path],
      { encoding: 'utf8' },
    );
    const ends = packets.stdout
      .trim()
      .split('\n')
      .map((line) => {
        const [pos, size] = line.split(',').map(Number);
        return (pos as number) + (size as number);
      });
    assert.equal(ends.length, 90, packets.stderr);
    const cuts = Array.from({ length: 24 }, (_, k) => Math.floor(((k + 1) * (bytes.length - 200)) / 25) + 100);
    for (const cut of cuts) {
      const copy = join(dir, `cut-${cut}.mkv`);
      writeFileSync(copy, bytes.subarray(0, cut));
      const complete = ends.filter((end) => end <= cut).length;
      const r = await repairMatroska(copy);
      assert.equal(
        r.blocks,
        complete,
        `cut at ${cut}: ${complete} complete blocks before it (ffprobe on the uncut file)`,
      );
      if (complete === 0) continue; // cut inside the first frame: the recorder deletes such a file
      assert.equal(decodeErrors(copy), '', `cut at ${cut}: decodes cleanly`);
      const p = probe(copy);
      assert.equal(
        p.frames,
        complete,
        `cut at ${cut}: ${p.frames} frames kept, ${complete} complete blocks before the cut`,
      );
      assert.ok(p.firstFrameKey);
      assert.ok(
        Math.abs(p.durationS - complete / 30) <= 1 / 30 + 1e-3,
        `cut at ${cut}: duration ${p.durationS} for ${r.blocks} frames`,
      );
      const again = await scanMatroska(copy);
      assert.equal(again.hasCues, true, 'Cues appended');
      assert.equal((await repairMatroska(copy)).truncatedBytes, 0, 'repair is idempotent');
    }
  } finally {
    cleanup();
  }
});
