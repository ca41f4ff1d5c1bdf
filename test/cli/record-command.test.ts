/**
 * `rearview record` against a real `rearview serve`: MKV and MP4 files that
 * ffprobe reads frame by frame with no decode errors, `--segment` files
 * that each start with a keyframe, and an MP4 recording killed with SIGKILL
 * that still plays up to its last fragment (the crash-safety promise).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
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

test('an MP4 recording killed with SIGKILL still plays up to its last fragment', async () => {
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
  const p = probe(file);
  assert.ok(p.frames >= 30, `at least one fragment of frames survived, got ${p.frames}`);
  assert.equal(p.firstIsKey, true);
  // ffmpeg may warn about the truncated tail, but must not fail to decode the complete fragments.
  assert.doesNotMatch(p.errors, /moov atom not found|Invalid data found/);
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
