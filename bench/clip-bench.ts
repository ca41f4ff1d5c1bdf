/**
 * Clip export by time (GET /api/v1/clip): a 10-minute clip across 1-minute
 * 720p30 8 Mbit/s segments recorded by our Recorder (11 segments, 10 joins,
 * starting 30 s into the first), exported the daemon's way (ClipExporter +
 * the converter worker thread, in a fresh node process) beside
 * `ffmpeg -f concat -c copy` on the same segments with the same cut points
 * (`inpoint`/`outpoint`), both under /usr/bin/time in the same run.
 * Reports wall seconds, x real time, peak RSS, and checks both outputs'
 * packet counts.
 *
 * Run: `npm run build && node dist/bench/clip-bench.js [--runs 3] [--minutes 10]`.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClipExporter } from '../src/recorder/clip-export.js';
import { ConvertPool } from '../src/recorder/convert-pool.js';
import { RecordingLibrary } from '../src/recorder/recording-library.js';
import { findFfmpeg } from './camera-stream.js';
import { CLIP_T0, recordClipSegments } from './recorded-segment.js';

const T0 = CLIP_T0;
const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

function writerTo(out: WriteStream): (chunk: Uint8Array) => Promise<void> {
  return (chunk) =>
    new Promise<void>((resolve, reject) => {
      if (out.write(chunk)) return resolve();
      const onError = (err: Error): void => reject(err);
      out.once('error', onError).once('drain', () => {
        out.off('error', onError);
        resolve();
      });
    });
}

/** Child mode: one clip export the daemon's way; prints its figures. */
async function childClip(dir: string, fromMs: number, toMs: number, output: string): Promise<void> {
  const statusKb = (field: string): number =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
  const before = statusKb('VmRSS');
  const pool = new ConvertPool({ maxWorkers: 1 });
  const exporter = new ClipExporter(new RecordingLibrary(dir), {
    maxMs: () => 6 * 3_600_000,
    now: () => toMs + 3_600_000,
    pool: () => pool,
  });
  const t0 = performance.now();
  const plan = await exporter.plan(fromMs, toMs);
  const out = createWriteStream(output);
  const r = await exporter.export(plan, writerTo(out));
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  const ms = performance.now() - t0;
  const growth = (statusKb('VmHWM') - before) / 1024;
  await pool.close();
  process.stdout.write(`${JSON.stringify({ ms, joins: r.joins, samples: r.samples, exportGrowthMb: growth })}\n`);
}

interface Timed {
  seconds: number;
  maxRssMb: number;
  stdout: string;
}

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
  const minutes = arg('--minutes', 10);
  const dir = join(tmpdir(), 'rearview-bench', `clip-${minutes}min`);
  await recordClipSegments(dir, minutes);
  const self = fileURLToPath(import.meta.url);
  const ffmpeg = findFfmpeg();
  const fromMs = T0 + 30_000;
  const toMs = fromMs + minutes * 60_000;
  const segments = Array.from({ length: minutes + 1 }, (_, i) => join(dir, `log${String(i).padStart(4, '0')}.mkv`));
  // The same cut for ffmpeg: 30 s into the first segment to 30 s into the last.
  const list = join(dir, 'concat.txt');
  writeFileSync(
    list,
    segments
      .map((p, i) => `file '${p}'\n${i === 0 ? 'inpoint 30\n' : ''}${i === segments.length - 1 ? 'outpoint 30\n' : ''}`)
      .join(''),
  );
  const oursOut = join(dir, 'ours.mp4');
  const ffOut = join(dir, 'ffmpeg.mp4');
  const rows: { ours: Timed & { inner: number; growth: number }; ff: Timed }[] = [];
  for (let i = 0; i < runs; i++) {
    const o = timed(process.execPath, [self, '--child-clip', dir, String(fromMs), String(toMs), oursOut]);
    const j = JSON.parse(o.stdout) as { ms: number; joins: number; exportGrowthMb: number };
    const f = timed(ffmpeg, ['-v', 'error', '-y', '-f', 'concat', '-safe', '0', '-i', list, '-c', 'copy', ffOut]);
    rows.push({ ours: { ...o, inner: j.ms / 1000, growth: j.exportGrowthMb }, ff: f });
    if (i === 0)
      console.log(
        `clip of ${minutes} min across ${j.joins} joins; packets: ours ${packets(oursOut)}, ffmpeg ${packets(ffOut)} (expected ${minutes * 60 * 30})`,
      );
  }
  const real = minutes * 60;
  console.log(
    'run | ours s (process) | export s | x real time | ours peak RSS MB | export growth MB | ffmpeg s | x real time | ffmpeg RSS MB | time ours/ffmpeg',
  );
  rows.forEach((r, i) => {
    console.log(
      `${i + 1}   | ${r.ours.seconds.toFixed(2).padStart(16)} | ${r.ours.inner.toFixed(2).padStart(8)} | ${(real / r.ours.inner).toFixed(0).padStart(11)} | ${r.ours.maxRssMb.toFixed(0).padStart(16)} | ${r.ours.growth.toFixed(0).padStart(16)} | ${r.ff.seconds.toFixed(2).padStart(8)} | ${(real / Math.max(r.ff.seconds, 0.01)).toFixed(0).padStart(11)} | ${r.ff.maxRssMb.toFixed(0).padStart(13)} | ${(r.ours.seconds / Math.max(r.ff.seconds, 0.01)).toFixed(2).padStart(16)}`,
    );
  });
  rmSync(oursOut, { force: true });
  rmSync(ffOut, { force: true });
  console.log('(segments are kept in', dir, 'for the next run; delete the folder to re-record)');
}

if (process.argv[2] === '--child-clip') {
  await childClip(
    process.argv[3] as string,
    Number(process.argv[4]),
    Number(process.argv[5]),
    process.argv[6] as string,
  );
} else {
  await main();
}
