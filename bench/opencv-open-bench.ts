/**
 * How long OpenCV's `cv2.VideoCapture('tcp://...')` takes to hand out its
 * first frame from `rearview serve` (run: `npx tsc -p . && node dist/bench/opencv-open-bench.js`).
 *
 * FFmpeg (under OpenCV) probes a bare H.264 stream for up to 5 s by default
 * before it returns; `OPENCV_FFMPEG_CAPTURE_OPTIONS='probesize;32|analyzeduration;0|fflags;nobuffer'`
 * makes it start on the first parameter sets and keyframe instead. Each run
 * is a fresh python3 process (Debian's, which has python3-opencv) timing
 * open + first read() with and without the options, RUNS times each
 * (default 5), against one daemon serving the sample clip on loopback.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';
const RUNS = Number(process.env.RUNS ?? 5);
/** The options the README and `rearview serve` recommend. */
const FAST_OPEN = 'probesize;32|analyzeduration;0|fflags;nobuffer';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const serve = spawn(
  process.execPath,
  [cli, 'serve', '--no-record', '--no-mdns', '--stream-port', '0', '--api-port', '0', '--bind', '127.0.0.1'],
  {
    stdio: ['ignore', 'pipe', 'ignore'],
  },
);
const port = await new Promise<number>((resolve, reject) => {
  serve.once('exit', (code) => reject(new Error(`rearview serve exited with ${code}`)));
  createInterface({ input: serve.stdout }).on('line', (line) => {
    const m = /^stream listening on tcp:\/\/.+:(\d+)$/.exec(line);
    if (m) resolve(Number(m[1]));
  });
});

const script = `
import sys, time
t0 = time.monotonic()
import cv2
t1 = time.monotonic()
cap = cv2.VideoCapture(sys.argv[1])
t2 = time.monotonic()
ok, frame = cap.read()
t3 = time.monotonic()
print(f"{t3 - t1:.3f} {t2 - t1:.3f} {int(ok)} {frame.shape[1] if ok else 0}x{frame.shape[0] if ok else 0}")
`;

/** Seconds from VideoCapture() to the first frame out of read(), and of those in VideoCapture() alone. */
function firstFrameSeconds(options: string | undefined): { seconds: number; openSeconds: number; size: string } {
  const env = { ...process.env };
  delete env.OPENCV_FFMPEG_CAPTURE_OPTIONS;
  if (options !== undefined) env.OPENCV_FFMPEG_CAPTURE_OPTIONS = options;
  const r = spawnSync(PYTHON, ['-c', script, `tcp://127.0.0.1:${port}`], { env, encoding: 'utf8', timeout: 60_000 });
  const [seconds, openSeconds, ok, size] = (r.stdout ?? '').trim().split(' ');
  if (r.status !== 0 || ok !== '1') throw new Error(`python3/cv2 did not read a frame: ${r.stderr || r.stdout}`);
  return { seconds: Number(seconds), openSeconds: Number(openSeconds), size: size ?? '?' };
}

try {
  for (const [label, options] of [
    ['default', undefined],
    ['fast open', FAST_OPEN],
  ] as const) {
    const runs = Array.from({ length: RUNS }, () => firstFrameSeconds(options));
    const list = (values: number[]): string => {
      const sorted = [...values].sort((a, b) => a - b);
      return `${sorted.map((t) => t.toFixed(2)).join(', ')} s (min ${sorted[0]?.toFixed(2)}, max ${sorted.at(-1)?.toFixed(2)})`;
    };
    console.log(
      `${label.padEnd(10)} VideoCapture() to first frame (${runs[0]?.size}): ${list(runs.map((r) => r.seconds))}`,
    );
    console.log(`${''.padEnd(10)} of which VideoCapture() itself:   ${list(runs.map((r) => r.openSeconds))}`);
  }
} finally {
  serve.kill('SIGINT');
}
