/**
 * Frame-close latency of a live encoder pipe: how long after an encoder
 * wrote a frame does the reader hand it out as a complete access unit?
 *
 * A paced writer (bench/paced-frame-writer.ts) writes the 640x360 sample at
 * 30 fps into a pipe, one write per frame, stamping each write. Compared in
 * the same run:
 * - rearview ProcessSource with idle close (2 ms, the default);
 * - rearview ProcessSource with idle close off (the frame closes when the next starts);
 * - ffmpeg as a peer: `-f h264 -i pipe: -c copy -f framemd5` with its low-latency input flags,
 *   each output line stamped as it arrives;
 * - GStreamer as a peer: `fdsrc ! h264parse ! video/x-h264,alignment=au ! fakesink -v`, each
 *   buffer line stamped as it arrives.
 * Prints p50/p99/max of (delivered - written) in ms after a warm-up, and the
 * ratio to ffmpeg. Run: node dist/bench/source-framing-bench.js [frames]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Logger } from '../src/log/logger.js';
import { ProcessSource } from '../src/sources/process-source.js';
import { percentile } from './percentile.js';

const here = dirname(fileURLToPath(import.meta.url));
const writer = join(here, 'paced-frame-writer.js');
const frames = Number(process.argv[2] ?? 300);
const WARMUP = 30;
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const work = mkdtempSync(join(tmpdir(), 'rearview-framing-bench-'));

function summarise(written: number[], delivered: number[]): { p50: number; p99: number; max: number; n: number } {
  const lat: number[] = [];
  // The last frame is left out: without idle close it only closes when the writer exits.
  for (let i = WARMUP; i < Math.min(written.length - 1, delivered.length); i++)
    lat.push((delivered[i] as number) - (written[i] as number));
  lat.sort((a, b) => a - b);
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat[lat.length - 1] ?? NaN, n: lat.length };
}

async function runRearview(idleCloseMs: number): Promise<ReturnType<typeof summarise>> {
  const stampsPath = join(work, `stamps-idle-${idleCloseMs}.json`);
  const delivered: number[] = [];
  const source = new ProcessSource({
    name: 'bench',
    commandLine: { command: process.execPath, args: [writer, stampsPath, String(frames), '30'] },
    logger: new Logger({ level: 'silent' }),
    idleCloseMs,
  });
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  await source.start({
    accessUnit: () => {
      delivered.push(nowMs());
      // Without idle close the last frame only closes at exit: stop one frame early.
      if (delivered.length === frames - 1) done();
    },
    discontinuity: () => undefined,
  });
  await finished;
  await new Promise((r) => setTimeout(r, 1200));
  const stats = source.framerStats;
  if (stats)
    console.log(`  (idle close ${idleCloseMs} ms: ${stats.idlePauses} idle pauses, ${stats.midFramePauses} mid-frame)`);
  await source.close();
  return summarise(JSON.parse(readFileSync(stampsPath, 'utf8')) as number[], delivered);
}

async function runFfmpeg(): Promise<ReturnType<typeof summarise>> {
  const stampsPath = join(work, 'stamps-ffmpeg.json');
  const delivered: number[] = [];
  const w = spawn(process.execPath, [writer, stampsPath, String(frames), '30'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ff = spawn(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-fflags',
      'nobuffer',
      '-flags',
      'low_delay',
      '-probesize',
      '32',
      '-analyzeduration',
      '0',
      '-fpsprobesize',
      '0',
      '-f',
      'h264',
      '-framerate',
      '30',
      '-i',
      'pipe:0',
      '-c',
      'copy',
      '-f',
      'framemd5',
      '-flush_packets',
      '1',
      'pipe:1',
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  w.stdout.pipe(ff.stdin);
  let partial = '';
  ff.stdout.setEncoding('utf8');
  ff.stdout.on('data', (text: string) => {
    const t = nowMs();
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (/^0,/.test(line)) delivered.push(t);
  });
  await new Promise<void>((resolve) => w.on('exit', () => resolve()));
  await new Promise<void>((resolve) => ff.on('exit', () => resolve()));
  return summarise(JSON.parse(readFileSync(stampsPath, 'utf8')) as number[], delivered);
}

/** GStreamer as a second peer: h264parse hands each access unit to fakesink, which prints a line per buffer. */
async function runGstreamer(): Promise<ReturnType<typeof summarise>> {
  const stampsPath = join(work, 'stamps-gst.json');
  const delivered: number[] = [];
  const w = spawn(process.execPath, [writer, stampsPath, String(frames), '30'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const gst = spawn(
    'gst-launch-1.0',
    [
      '-v',
      'fdsrc',
      'fd=0',
      '!',
      'h264parse',
      '!',
      'video/x-h264,alignment=au',
      '!',
      'fakesink',
      'silent=false',
      'sync=false',
    ],
    {
      stdio: ['pipe', 'pipe', 'ignore'],
    },
  );
  w.stdout.pipe(gst.stdin);
  let partial = '';
  gst.stdout.setEncoding('utf8');
  gst.stdout.on('data', (text: string) => {
    const t = nowMs();
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.includes('last-message = chain')) delivered.push(t);
  });
  await new Promise<void>((resolve) => w.on('exit', () => resolve()));
  gst.stdin.end();
  await new Promise<void>((resolve) => gst.on('exit', () => resolve()));
  return summarise(JSON.parse(readFileSync(stampsPath, 'utf8')) as number[], delivered);
}

try {
  console.log(
    `frame-close latency, ${frames} frames of the 640x360 sample at 30 fps through a pipe (first ${WARMUP} skipped), ms`,
  );
  const results: Array<[string, ReturnType<typeof summarise>]> = [];
  results.push(['ffmpeg -c copy (peer)', await runFfmpeg()]);
  results.push(['gst h264parse (peer)', await runGstreamer()]);
  results.push(['rearview, idle close off', await runRearview(0)]);
  results.push(['rearview, idle close 2 ms', await runRearview(2)]);
  const ffmpeg = results[0]![1];
  const gst = results[1]![1];
  for (const [name, r] of results) {
    console.log(
      `${name.padEnd(28)} p50 ${r.p50.toFixed(2).padStart(7)}  p99 ${r.p99.toFixed(2).padStart(7)}  max ${r.max.toFixed(2).padStart(7)}  (n=${r.n})  ` +
        `p50 ratio to gst ${(r.p50 / gst.p50).toFixed(3)}, to ffmpeg ${(r.p50 / ffmpeg.p50).toFixed(3)}`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
