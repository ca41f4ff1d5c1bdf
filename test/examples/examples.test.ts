/**
 * The examples against a real `rearview serve`: nal-debug stops quietly
 * when the reader of its output goes away (`| head`), overtake-warning says
 * that it runs, and frame-grabber's schedule keeps the interval asked for
 * (checked as the pure function it uses, over simulated keyframe arrivals).
 * Also the OpenCV lines `rearview serve` prints: run as printed (with the
 * fast-open options), they read frames of the right size.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../support/paths.js';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';
import { requireTool } from '../support/tools.js';
import { nextShotTime } from '../../examples/next-shot-time.js';

const examples = join(repoRoot, 'dist', 'examples');
let serve: ServeProcess;

before(async () => {
  serve = await startServe(['--bind', '127.0.0.1']);
});

after(async () => {
  await serve.close();
});

test('nal-debug.js | head -1: exits 0, no EPIPE stack trace', async () => {
  const child = spawn(process.execPath, [join(examples, 'nal-debug.js'), '127.0.0.1', String(serve.streamPort)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('close', (code, signal) => resolve([code, signal])),
  );
  // Read the first line, then close the pipe as head does.
  const first = await new Promise<string>((resolve) => {
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => {
      text += t;
      if (text.includes('\n')) resolve(text.split('\n')[0] as string);
    });
  });
  child.stdout.destroy();
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code, signal] = await exited;
  clearTimeout(timer);
  assert.equal(first, `Connected to 127.0.0.1:${serve.streamPort}`);
  assert.deepEqual([code, signal], [0, null], stderr);
  assert.equal(stderr, '', 'nothing on stderr');
});

test('overtake-warning.js says that it is running once frames come', async () => {
  const url = `tcp://127.0.0.1:${serve.streamPort}`;
  const child = spawn(process.execPath, [join(examples, 'overtake-warning.js'), url, 'left', '12'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  try {
    await waitFor(() => stderr.includes('running'), 'the running line', 30_000);
    assert.equal(
      stderr.split('\n').slice(0, 2).join('\n'),
      `overtake-warning: connecting to ${url} ...\novertake-warning: running: watching the left third of ${url} (threshold 12); Ctrl-C to stop`,
    );
  } finally {
    child.kill('SIGINT');
  }
  assert.equal(await exited, 0);
  assert.match(stderr, /overtake-warning: stream closed, stopped\n$/);
});

test('frame-grabber schedule: shots on a fixed grid keep the interval; counting from each keyframe drifts', () => {
  const everyMs = 5000;
  // Keyframes once a second, arriving 0-40 ms late (network and encoder jitter).
  const arrivals = Array.from({ length: 120 }, (_, k) => k * 1000 + ((k * 37) % 41));
  const shots = (next: (due: number, taken: number) => number): number[] => {
    const taken: number[] = [];
    let due: number | undefined;
    for (const t of arrivals) {
      if (due !== undefined && t < due) continue;
      taken.push(t);
      due = next(due ?? t, t);
    }
    return taken;
  };
  const grid = shots((due, taken) => nextShotTime(due, taken, everyMs));
  const gaps = grid.slice(1).map((t, i) => t - (grid[i] as number));
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  assert.ok(Math.abs(mean - everyMs) < 50, `mean interval ${mean} ms`);
  assert.ok(
    gaps.every((g) => g > everyMs - 1000 && g < everyMs + 1000),
    `every gap within one keyframe of 5 s: ${gaps.join(', ')}`,
  );
  // What the example did before: the next shot one interval after the keyframe taken, so each
  // jittered-late keyframe pushes the schedule a whole GOP: about 6 s apart instead of 5.
  const drifting = shots((_due, taken) => taken + everyMs);
  const driftMean = (drifting.at(-1)! - drifting[0]!) / (drifting.length - 1);
  assert.ok(driftMean > 5500, `the old rule averages ${driftMean} ms`);

  // Shots missed while the stream was away are skipped, not taken in a burst.
  assert.equal(nextShotTime(10_000, 27_500, everyMs), 30_000);
  assert.equal(nextShotTime(10_000, 10_000, everyMs), 15_000);
  assert.equal(nextShotTime(10_000, 9_000, everyMs), 10_000);
  assert.throws(() => nextShotTime(0, 0, 0), RangeError);
});

test("serve's OpenCV lines, fast-open options included, read frames of the right size", async () => {
  const start = serve.stdoutLines.findIndex((l) => l.startsWith('  python3 with OpenCV'));
  assert.ok(start > 0, serve.stdoutLines.join('\n'));
  const printed = serve.stdoutLines
    .slice(start + 1)
    .filter((l) => l.startsWith('    '))
    .map((l) => l.slice(4));
  assert.deepEqual(printed.slice(0, 4), [
    'import os',
    "os.environ['OPENCV_FFMPEG_CAPTURE_OPTIONS'] = 'probesize;32|analyzeduration;0|fflags;nobuffer'",
    'import cv2',
    `cap = cv2.VideoCapture('tcp://127.0.0.1:${serve.streamPort}')`,
  ]);
  // The printed set-up as it is, then a window-less read loop in place of imshow.
  const script = [
    ...printed.slice(0, 4),
    'for i in range(10):',
    '    ret, frame = cap.read()',
    "    assert ret, 'no frame %d' % i",
    '    print(frame.shape[1], frame.shape[0])',
  ].join('\n');
  const env = { ...process.env };
  delete env.OPENCV_FFMPEG_CAPTURE_OPTIONS;
  const child = spawn(requireTool('python3'), ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  assert.deepEqual(
    stdout.trim().split('\n'),
    Array.from({ length: 10 }, () => '640 360'),
  );
});
