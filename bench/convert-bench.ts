/**
 * MKV -> MP4 conversion for download: our streaming converter
 * (convertMkvToMp4, fragmented MP4, flat memory) beside
 * `ffmpeg -i seg.mkv -c copy out.mp4` on the same segments in the same run.
 * Segments are recorded by our Recorder from the camera-like 720p30 8 Mbit/s
 * stream: one of 60 s and a long one (default 10 min; `--long-minutes 60`
 * for an hour, about 3.6 GB in the OS temp folder).
 *
 * Two ways of running ours: through a ConvertPool (what the daemon does:
 * a converter child process, started once and reused; cold and warm wall
 * times and the child's peak RSS), and as a one-off node process under
 * /usr/bin/time (start-up included). ffmpeg runs under /usr/bin/time too.
 * Goals: >= 200x real time, peak RSS < 80 MB for any segment length.
 *
 * Run: npm run bench, or `node dist/bench/convert-bench.js [--runs N] [--long-minutes M]`.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync, rmSync, statSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConvertPool } from '../src/recorder/convert-pool.js';
import { convertMkvToMp4 } from '../src/recorder/convert-mkv-to-mp4.js';
import { findFfmpeg } from './camera-stream.js';
import { recordSegment } from './recorded-segment.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

/** Child mode: convert one file and exit (measured from outside). */
async function childConvert(input: string, output: string): Promise<void> {
  const t0 = performance.now();
  const out = createWriteStream(output);
  const result = await convertMkvToMp4(input, writerTo(out));
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  process.stdout.write(`${JSON.stringify({ ...result, convertMs: performance.now() - t0 })}\n`);
}

/** A converter `write` callback onto a file stream that resolves when the stream can take more. */
function writerTo(out: WriteStream): (chunk: Uint8Array) => Promise<void> {
  return (chunk) =>
    new Promise<void>((resolve, reject) => {
      if (out.write(chunk)) return resolve();
      // One 'error' listener per wait, removed on drain (one left per drain warned of a listener leak).
      const onError = (err: Error): void => reject(err);
      out.once('error', onError).once('drain', () => {
        out.off('error', onError);
        resolve();
      });
    });
}

/**
 * Child mode: convert through a ConvertPool (the daemon's path) `runs` times
 * into `output`: the first conversion starts the converter worker thread (cold),
 * later ones reuse it (warm). Prints wall ms of each and the peak RSS (VmHWM)
 * this process grew by over its RSS before the pool started (the converter's
 * own cost, Node itself left out).
 */
async function childPool(input: string, output: string, runs: number): Promise<void> {
  const pool = new ConvertPool({ maxWorkers: 1 });
  const statusKb = (field: string): number =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
  const before = statusKb('VmRSS');
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const out = createWriteStream(output);
    await pool.convert(input, writerTo(out));
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    ms.push(performance.now() - t0);
  }
  const hwm = statusKb('VmHWM') - before;
  await pool.close();
  process.stdout.write(`${JSON.stringify({ ms, converterPeakRssMb: hwm / 1024 })}\n`);
}

interface Timed {
  seconds: number;
  /** Conversion alone, inside the process (without Node start-up and module loading). */
  innerSeconds?: number;
  maxRssMb: number;
  stdout: string;
}

/** Runs a command under /usr/bin/time: wall seconds and peak RSS. */
function timed(cmd: string, args: string[]): Timed {
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 16 << 20 });
  const m = /TIME ([\d.]+) (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`${cmd} failed: ${r.stderr}`);
  return { seconds: Number(m[1]), maxRssMb: Number(m[2]) / 1024, stdout: r.stdout };
}

function packets(path: string): number {
  const r = spawnSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-count_packets',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=nb_read_packets',
      '-of',
      'csv=p=0',
      path,
    ],
    { encoding: 'utf8' },
  );
  return Number(r.stdout.trim());
}

async function main(): Promise<void> {
  const runs = arg('--runs', 3);
  const longMinutes = arg('--long-minutes', 10);
  const base = join(tmpdir(), 'rearview-bench', 'convert');
  const self = fileURLToPath(import.meta.url);
  const ffmpeg = findFfmpeg();
  const cases = [
    { label: '60 s', seconds: 60 },
    { label: `${longMinutes} min`, seconds: longMinutes * 60 },
  ];
  console.log(
    'MKV -> MP4, 720p30 8 Mbit/s segments recorded by our Recorder; best of',
    runs,
    'runs; ffmpeg -c copy in the same run',
  );
  console.log(
    "pool = the daemon's path (ConvertPool: a converter child process, reused): cold = first conversion incl. starting the child,",
  );
  console.log(
    "  warm = best later one, RSS = the converter's peak (VmHWM). one-off = a fresh node process converting in-process (under /usr/bin/time).",
  );
  console.log(
    'segment   | MB     | pool warm s | x real time | pool cold s | x real time | converter RSS MB | one-off s | x real time | one-off RSS MB | ffmpeg s | x real time | ffmpeg RSS MB | warm/ffmpeg time',
  );
  for (const c of cases) {
    const dir = join(base, `${c.seconds}s`);
    const mkv = await recordSegment(dir, c.seconds);
    const oursOut = join(dir, 'ours.mp4');
    const poolOut = join(dir, 'pool.mp4');
    const ffOut = join(dir, 'ffmpeg.mp4');
    let ours: Timed | undefined;
    let ff: Timed | undefined;
    for (let i = 0; i < runs; i++) {
      const o = timed(process.execPath, [self, '--child-convert', mkv, oursOut]);
      o.innerSeconds = (JSON.parse(o.stdout) as { convertMs: number }).convertMs / 1000;
      if (!ours || o.seconds < ours.seconds)
        ours = {
          ...o,
          maxRssMb: Math.max(o.maxRssMb, ours?.maxRssMb ?? 0),
          innerSeconds: Math.min(o.innerSeconds, ours?.innerSeconds ?? Infinity),
        };
      else ours.maxRssMb = Math.max(ours.maxRssMb, o.maxRssMb);
      const f = timed(ffmpeg, ['-v', 'error', '-y', '-i', mkv, '-c', 'copy', ffOut]);
      if (!ff || f.seconds < ff.seconds) ff = { ...f, maxRssMb: Math.max(f.maxRssMb, ff?.maxRssMb ?? 0) };
      else ff.maxRssMb = Math.max(ff.maxRssMb, f.maxRssMb);
    }
    const poolRun = spawnSync(process.execPath, [self, '--child-pool', mkv, poolOut, String(runs + 1)], {
      encoding: 'utf8',
    });
    if (poolRun.status !== 0) throw new Error(`pool conversion failed: ${poolRun.stderr}`);
    const pool = JSON.parse(poolRun.stdout) as { ms: number[]; converterPeakRssMb: number };
    const coldS = (pool.ms[0] ?? NaN) / 1000;
    const warmS = Math.min(...pool.ms.slice(1)) / 1000;
    const expected = c.seconds * 30;
    for (const out of [oursOut, poolOut]) {
      const got = packets(out);
      if (got !== expected) throw new Error(`our MP4 of ${c.label} (${out}) has ${got} packets, expected ${expected}`);
    }
    const o = ours as Timed;
    const f = ff as Timed;
    const x = (s: number): string => (c.seconds / Math.max(s, 0.01)).toFixed(0).padStart(11);
    console.log(
      `${c.label.padEnd(9)} | ${(statSync(mkv).size / 1e6).toFixed(0).padStart(6)} | ${warmS.toFixed(2).padStart(11)} | ${x(warmS)} | ${coldS.toFixed(2).padStart(11)} | ${x(coldS)} | ${pool.converterPeakRssMb.toFixed(0).padStart(16)} | ${o.seconds.toFixed(2).padStart(9)} | ${x(o.seconds)} | ${o.maxRssMb.toFixed(0).padStart(14)} | ${f.seconds.toFixed(2).padStart(8)} | ${x(f.seconds)} | ${f.maxRssMb.toFixed(0).padStart(13)} | ${(warmS / Math.max(f.seconds, 0.01)).toFixed(2).padStart(16)}`,
    );
    rmSync(oursOut, { force: true });
    rmSync(poolOut, { force: true });
    rmSync(ffOut, { force: true });
  }
  console.log('(inputs are kept in', base, 'for the next run; delete the folder to re-record)');
}

if (process.argv[2] === '--child-pool') {
  await childPool(process.argv[3] as string, process.argv[4] as string, Number(process.argv[5] ?? 3));
} else if (process.argv[2] === '--child-convert') {
  await childConvert(process.argv[3] as string, process.argv[4] as string);
} else {
  await main();
}
