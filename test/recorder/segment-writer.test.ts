/**
 * SegmentWriter against a disk that is slow to take the header: the start
 * time (DateUTC) is patched into the header only once the header is in the file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { StreamFrame } from '../../src/hub/stream-frame.js';
import { readMatroskaHeader } from '../../src/recorder/matroska-file.js';
import { SegmentWriter } from '../../src/recorder/segment-writer.js';
import { samplePath } from '../hub/access-units.js';
import { scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { waitFor } from '../support/wait.js';
import { decodeErrors, HubFeeder, probe } from './recording-fixtures.js';

/** Opens files whose first write past the EBML header (the Segment header) waits until release(). */
function slowHeaderDisk(): {
  openFile: (path: string, flags: number) => Promise<FileHandle>;
  release: () => void;
  held: () => boolean;
} {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let held = false;
  const openFile = async (path: string, flags: number): Promise<FileHandle> => {
    const fh = await open(path, flags);
    const write = async (data: Uint8Array, offset: number, length: number, position: number): Promise<unknown> => {
      if (position > 0 && !held) {
        held = true;
        await gate;
      }
      return fh.write(data, offset, length, position);
    };
    return new Proxy(fh, {
      get(target, key) {
        if (key === 'write') return write;
        const value: unknown = Reflect.get(target, key);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  };
  return { openFile, release: () => release(), held: () => held };
}

// Regression: `writing log0018.mkv: not a Matroska file (no Segment)` on a healthy disk. mediabunny's
// add() resolves once its bytes are handed over, not written; the date patch ran as soon as the EBML
// header was on disk and read a file without its Segment yet.
test('the start time is patched only after the Segment header reached the file', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const feeder = HubFeeder.ofFile(samplePath);
    const reader = feeder.hub.addReader({ name: 'test', join: 'next-keyframe' });
    feeder.push(45);
    const frames: StreamFrame[] = [];
    for (let f = reader.read(); f; f = reader.read()) frames.push(f);
    const first = frames[0] as StreamFrame;
    assert.ok(first.isKey);
    const disk = slowHeaderDisk();
    const path = join(dir, 'log0000.mkv');
    const writer = new SegmentWriter({ path, params: first.params, openFile: disk.openFile, syncIntervalMs: 0 });
    await writer.start();
    const written = writer.write(first).then(
      () => 'written',
      (err: Error) => err.message,
    );
    // Before the fix the write failed here, while the header was held; now it waits for it.
    const outcome = await Promise.race([
      written,
      waitFor(() => writer.awaitingHeaderWrite, 'the writer to wait for its header').then(() => 'waiting'),
    ]);
    assert.equal(outcome, 'waiting');
    assert.ok(disk.held(), 'the Segment header write was held back');
    disk.release();
    assert.equal(await written, 'written');
    for (const f of frames.slice(1)) await writer.write(f);
    await writer.close();
    assert.equal((await readMatroskaHeader(path)).startedAtMs, first.capturedAtMs);
    assert.equal(probe(path).frames, frames.length);
    assert.equal(decodeErrors(path), '');
  } finally {
    cleanup();
  }
});

/** Writes `frames` (capture times as given) to a new segment and returns its packet times in ms (ffprobe). */
async function writeAndReadTimes(dir: string, name: string, frames: StreamFrame[]): Promise<number[]> {
  const path = join(dir, name);
  const writer = new SegmentWriter({ path, params: (frames[0] as StreamFrame).params, syncIntervalMs: 0 });
  await writer.start();
  for (const f of frames) await writer.write(f);
  await writer.close();
  assert.equal(decodeErrors(path), '', `${name} decodes cleanly`);
  const r = spawnSync(
    requireTool('ffprobe'),
    ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', path],
    { encoding: 'utf8' },
  );
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => Math.round(Number(l) * 1000));
}

/** The first frames of the sample as the hub gives them (capture times 30 a second). */
function sampleFrames(count: number): StreamFrame[] {
  const feeder = HubFeeder.ofFile(samplePath);
  const reader = feeder.hub.addReader({ name: 'test', join: 'next-keyframe' });
  feeder.push(count);
  const frames: StreamFrame[] = [];
  for (let f = reader.read(); f; f = reader.read()) frames.push(f);
  return frames;
}

// Regression: after a burst of more than 10 frames (frames held during a stall, stamped on arrival)
// the writer left its frame grid, stepped back to the capture clock and spaced the next frames 1 ms
// apart; ffmpeg reported "non monotonically increasing dts" and players saw equal times.
test('a burst after a stall stays on the frame grid: times one frame apart, gap kept', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    for (const burst of [8, 15, 40]) {
      const frames = sampleFrames(150);
      const stampedAt = (frames[30 + burst - 1] as StreamFrame).capturedAtMs;
      const held = frames.map((f, i) => (i >= 30 && i < 30 + burst ? { ...f, capturedAtMs: stampedAt } : f));
      const times = await writeAndReadTimes(dir, `burst${burst}.mkv`, held);
      assert.equal(times.length, 150);
      const steps = times.slice(1).map((t, i) => t - (times[i] as number));
      const gap = steps[29] as number;
      assert.ok(gap >= burst * 33, `burst of ${burst}: the stall stays a gap (${gap} ms)`);
      steps.splice(29, 1);
      assert.ok(
        steps.every((d) => d >= 33 && d <= 34),
        `burst of ${burst}: every other step is one frame interval: ${steps}`,
      );
    }
  } finally {
    cleanup();
  }
});
