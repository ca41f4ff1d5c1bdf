/**
 * `rearview record` against a real `rearview serve`: MKV and MP4 files that
 * ffprobe reads frame by frame with no decode errors, `--segment` files
 * that each start with a keyframe, and an MP4 recording killed with SIGKILL
 * that still plays up to its last complete fragment (the crash-safety promise).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { cliPath, scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import { requireTool } from '../support/tools.js';
import { runCli } from './cli-run.js';

let serve: ServeProcess;
let scratch: { dir: string; cleanup: () => void };

before(async () => {
  serve = await startServe([]);
  scratch = scratchDir();
});

after(async () => {
  await serve.close();
  scratch.cleanup();
});

/** ffprobe's decoded frame count, the first frame's key flag, and ffmpeg's decode errors. */
function probe(file: string): { frames: number; firstIsKey: boolean; width: number; errors: string } {
  const ffprobe = requireTool('ffprobe');
  const r = spawnSync(ffprobe, [
    '-v',
    'error',
    '-count_frames',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=nb_read_frames,width',
    '-of',
    'json',
    file,
  ]);
  const info = JSON.parse(r.stdout.toString()) as { streams: { nb_read_frames: string; width: number }[] };
  const k = spawnSync(ffprobe, [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'packet=flags',
    '-read_intervals',
    '%+#1',
    '-of',
    'csv=p=0',
    file,
  ]);
  const d = spawnSync(requireTool('ffmpeg'), ['-v', 'error', '-i', file, '-f', 'null', '-']);
  return {
    frames: Number(info.streams[0]?.nb_read_frames ?? 0),
    width: info.streams[0]?.width ?? 0,
    firstIsKey: k.stdout.toString().trim().startsWith('K'),
    errors: r.stderr.toString() + d.stderr.toString(),
  };
}

for (const ext of ['mkv', 'mp4']) {
  test(`records 2 s to .${ext}: every frame decodes`, async () => {
    const file = join(scratch.dir, `ride.${ext}`);
    const r = await runCli(['record', `tcp://127.0.0.1:${serve.streamPort}`, '-o', file, '--duration', '2s', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { files: string[]; frames: number; durationMs: number; stoppedBy: string };
    assert.deepEqual(summary.files, [file]);
    assert.equal(summary.stoppedBy, 'duration');
    assert.ok(summary.frames >= 55 && summary.frames <= 61, `about 60 frames, got ${summary.frames}`);
    const p = probe(file);
    // Regression: under load two frames could get the same ms timestamp ("non monotonically increasing dts").
    assert.equal(p.errors, '', 'no decode errors');
    assert.equal(p.frames, summary.frames);
    assert.equal(p.width, 640);
    assert.equal(p.firstIsKey, true);
  });
}

test('--segment cuts new files at keyframes', async () => {
  const file = join(scratch.dir, 'seg.mkv');
  const r = await runCli([
    'record',
    `tcp://127.0.0.1:${serve.streamPort}`,
    '-o',
    file,
    '--duration',
    '3s',
    '--segment',
    '1s',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { files: string[]; frames: number };
  assert.ok(summary.files.length >= 2, `several files: ${summary.files.join(', ')}`);
  let total = 0;
  summary.files.forEach((f, i) => {
    assert.equal(f, join(scratch.dir, `seg-${String(i + 1).padStart(4, '0')}.mkv`));
    const p = probe(f);
    assert.equal(p.errors, '');
    assert.equal(p.firstIsKey, true, `${f} starts with a keyframe`);
    total += p.frames;
  });
  assert.equal(total, summary.frames, 'no frame lost between segments');
});

/**
 * The file's top-level boxes: the frames in complete fragments (a moof and its whole mdat), and
 * whether the file ends in a torn box. A SIGKILL can land inside the write of a fragment (the
 * kernel stops a write between pages on a fatal signal), so the last fragment may be torn.
 */
function fragmentsOf(file: string): { completeFrames: number; tornTail: boolean } {
  const bytes = readFileSync(file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let completeFrames = 0;
  let pendingMoofFrames = 0;
  let at = 0;
  while (at + 8 <= bytes.length) {
    const size = view.getUint32(at);
    const type = bytes.subarray(at + 4, at + 8).toString('latin1');
    if (size < 8 || at + size > bytes.length) return { completeFrames, tornTail: true };
    if (type === 'moof') {
      // moof > traf > trun: sum every trun's sample_count (full box: 4 bytes version/flags, then the count).
      pendingMoofFrames = 0;
      for (let i = at + 8; i + 16 <= at + size; i++) {
        if (bytes[i] === 0x74 && bytes.subarray(i, i + 4).toString('latin1') === 'trun')
          pendingMoofFrames += view.getUint32(i + 8);
      }
    } else if (type === 'mdat') {
      completeFrames += pendingMoofFrames;
      pendingMoofFrames = 0;
    }
    at += size;
  }
  return { completeFrames, tornTail: at !== bytes.length };
}

test('an MP4 recording killed with SIGKILL still plays up to its last complete fragment', async () => {
  const file = join(scratch.dir, 'killed.mp4');
  const child = spawn(process.execPath, [cliPath, 'record', `tcp://127.0.0.1:${serve.streamPort}`, '-o', file], {
    stdio: 'ignore',
  });
  try {
    // Wait (polling, with a deadline) until about two fragments (one per second) are on disk.
    await waitFor(() => existsSync(file) && statSync(file).size > 200_000, 'the recording to grow', 20_000, 20);
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
  }
  const { completeFrames, tornTail } = fragmentsOf(file);
  const p = probe(file);
  assert.ok(completeFrames >= 30, `at least one complete fragment, got ${completeFrames} frames in complete ones`);
  assert.ok(
    p.frames >= completeFrames,
    `every frame of the complete fragments decodes: ${p.frames} of ${completeFrames}`,
  );
  assert.equal(p.firstIsKey, true);
  assert.doesNotMatch(p.errors, /moov atom not found/);
  // ffmpeg may only complain about the torn tail (its last, partial sample); a file cut between fragments reads clean.
  if (!tornTail) assert.doesNotMatch(p.errors, /Invalid data found|Invalid NAL unit size/);
  assert.deepEqual(
    readdirSync(scratch.dir).filter((f) => f.startsWith('killed')),
    ['killed.mp4'],
  );
});

test('Ctrl-C (SIGINT) finishes the file cleanly and exits 0 with the summary', async () => {
  const file = join(scratch.dir, 'interrupted.mkv');
  const child = spawn(
    process.execPath,
    [cliPath, 'record', `tcp://127.0.0.1:${serve.streamPort}`, '-o', file, '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  await waitFor(() => existsSync(file) && statSync(file).size > 50_000, 'the recording to grow', 20_000, 20);
  child.kill('SIGINT');
  assert.equal(await exited, 0);
  const summary = JSON.parse(stdout) as { frames: number; stoppedBy: string };
  assert.equal(summary.stoppedBy, 'signal');
  const p = probe(file);
  assert.equal(p.errors, '');
  assert.equal(p.frames, summary.frames, 'every frame counted is in the file');
});
