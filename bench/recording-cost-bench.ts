/**
 * Recording cost: CPU seconds per hour of 8 Mbit/s 720p30 recording.
 *
 * Measured, not estimated: the camera-like stream (parsed once, outside the
 * measurement) is published into a StreamHub as fast as the recorder takes
 * it, with 60 s segments, and the process's CPU time (user + system) is
 * read around the run. The same run without a recorder (hub and a reader
 * that only drains) is subtracted, so the figure is the recorder's own
 * cost: muxing, writes, fdatasync, rotation, sealing. Thumbnails run in a
 * child ffmpeg once per segment; their CPU is measured separately (one per
 * segment, so 60 per hour) and added. Extrapolated linearly from the
 * recorded minutes to one hour.
 *
 * Peer in the same run: `ffmpeg -f h264 -i stream -c copy -f segment
 * -segment_time 60 out%04d.mkv` on the same bytes (CPU from /usr/bin/time).
 *
 * A second measurement feeds the same stream in real time (30 fps against
 * the wall clock, default 20 s, `--realtime-seconds S`, 0 to skip), where
 * every per-second fdatasync happens, and extrapolates the same way.
 *
 * Run: npm run bench, or `node dist/bench/recording-cost-bench.js [--minutes M] [--realtime-seconds S]`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAnnexB } from '../src/h264/h264-stream-parser.js';
import { StreamHub } from '../src/hub/stream-hub.js';
import { Recorder } from '../src/recorder/recorder.js';
import { ThumbnailMaker } from '../src/recorder/thumbnails.js';
import { ensureCameraStream, findFfmpeg } from './camera-stream.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function run(
  withRecorder: boolean,
  frames: number,
  units: ReturnType<typeof parseAnnexB>['accessUnits'],
  dir: string,
  realTime = false,
): Promise<{ cpuS: number; wallS: number }> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const hub = new StreamHub();
  let recorder: Recorder | undefined;
  let drain: (() => Promise<void>) | undefined;
  if (withRecorder) {
    recorder = new Recorder({
      hub,
      dir,
      segmentMs: 60_000,
      thumbnails: false,
      retentionIntervalMs: 0,
      limits: { maxFiles: 900, maxBytes: 0, minFreeBytes: 0, minFreePercent: 0 },
      queueLimitBytes: 512 * 1024 * 1024,
      queueLimitMs: 3_600_000,
    });
    await recorder.start();
  } else {
    const reader = hub.addReader({
      name: 'null',
      join: 'next-keyframe',
      softLimitBytes: 512 * 1024 * 1024,
      softLimitMs: 3_600_000,
    });
    drain = async () => {
      while (reader.read()) {
        // discard
      }
    };
  }
  const t0 = Date.UTC(2026, 0, 1);
  const cpu0 = cpuSeconds();
  const wall0 = performance.now();
  for (let i = 0; i < frames; i++) {
    if (realTime) {
      // Paced at 30 fps against the wall clock (drift-free), as a camera delivers.
      const due = wall0 + (i * 1000) / 30;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      hub.accessUnit(units[i % units.length]!, t0 + Math.round((i * 1000) / 30));
      if (recorder) await recorder.flush();
      else await drain?.();
      continue;
    }
    hub.accessUnit(units[i % units.length]!, t0 + Math.round((i * 1000) / 30));
    if (i % 30 === 29) {
      if (recorder) await recorder.flush();
      else await drain?.();
    }
  }
  await recorder?.close();
  await hub.close();
  return { cpuS: cpuSeconds() - cpu0, wallS: (performance.now() - wall0) / 1000 };
}

async function main(): Promise<void> {
  const minutes = arg('--minutes', 5);
  const realTimeSeconds = arg('--realtime-seconds', 20);
  const frames = minutes * 60 * 30;
  const stream = ensureCameraStream();
  const bytes = readFileSync(stream);
  const units = parseAnnexB(bytes).accessUnits;
  const dir = join(tmpdir(), 'rearview-bench', 'recording-cost');

  const base = await run(false, frames, units, dir);
  const rec = await run(true, frames, units, dir);
  const recorderCpuS = Math.max(0, rec.cpuS - base.cpuS);
  const perHour = (s: number): number => (s * 60) / minutes;

  // One thumbnail per segment, in a child ffmpeg: measure a few.
  const key = units.find((u) => u.isKey);
  if (!key) throw new Error('no keyframe in the stream');
  const keyBytes = bytes.subarray(key.offset, key.offset + key.byteLength);
  const thumbRuns = 5;
  const maker = new ThumbnailMaker({ ffmpegPath: findFfmpeg() });
  for (let i = 0; i < thumbRuns; i++) {
    maker.request({ annexB: keyBytes, path: join(dir, `t${i}.jpg`) });
    await maker.whenIdle();
  }
  await maker.close();
  const childCpu = spawnSync(
    '/usr/bin/time',
    [
      '-f',
      'TIME %U %S',
      findFfmpeg(),
      '-v',
      'error',
      '-y',
      '-f',
      'h264',
      '-i',
      '-',
      '-frames:v',
      '1',
      '-q:v',
      '4',
      join(dir, 'x.jpg'),
    ],
    { input: keyBytes, encoding: 'utf8' },
  );
  const tm = /TIME ([\d.]+) ([\d.]+)/.exec(childCpu.stderr);
  const thumbCpuS = tm ? Number(tm[1]) + Number(tm[2]) : NaN;

  // Peer: ffmpeg segmenting the same bytes into 60 s MKV files.
  const mediaS = frames / 30;
  // Loop the stream file to the same length as fed to the recorder.
  const loops = Math.ceil(mediaS / (units.length / 30));
  const list = join(dir, 'list.txt');
  writeFileSync(list, Array.from({ length: loops }, () => `file '${stream}'`).join('\n'));
  const ff = spawnSync(
    '/usr/bin/time',
    [
      '-f',
      'TIME %U %S %e',
      findFfmpeg(),
      '-v',
      'error',
      '-y',
      '-f',
      'concat',
      '-safe',
      '0',
      '-i',
      list,
      '-t',
      String(mediaS),
      '-c',
      'copy',
      '-f',
      'segment',
      '-segment_time',
      '60',
      '-reset_timestamps',
      '1',
      join(dir, 'ff%04d.mkv'),
    ],
    { encoding: 'utf8' },
  );
  const fm = /TIME ([\d.]+) ([\d.]+) ([\d.]+)/.exec(ff.stderr);
  if (ff.status !== 0 || !fm) throw new Error(`ffmpeg failed: ${ff.stderr}`);
  const ffCpuS = Number(fm[1]) + Number(fm[2]);

  console.log(
    `Recording cost, 720p30 ~8 Mbit/s, ${minutes} min of video fed as fast as possible (not real time), extrapolated to 1 hour:`,
  );
  console.log(
    `  hub + draining reader only:      ${base.cpuS.toFixed(2)} CPU s (${base.wallS.toFixed(1)} s wall) - subtracted`,
  );
  console.log(
    `  hub + recorder:                  ${rec.cpuS.toFixed(2)} CPU s (${rec.wallS.toFixed(1)} s wall, ${(mediaS / rec.wallS).toFixed(0)}x real time)`,
  );
  console.log(
    `  recorder alone:                  ${recorderCpuS.toFixed(2)} CPU s -> ${perHour(recorderCpuS).toFixed(1)} CPU s per hour (${((perHour(recorderCpuS) / 3600) * 100).toFixed(2)} % of one core)`,
  );
  console.log(
    `  thumbnails (child ffmpeg):       ${thumbCpuS.toFixed(3)} CPU s each -> ${(thumbCpuS * 60).toFixed(1)} CPU s per hour (60 segments)`,
  );
  console.log(
    `  total:                           ${(perHour(recorderCpuS) + thumbCpuS * 60).toFixed(1)} CPU s per hour`,
  );
  console.log(
    `  peer ffmpeg -c copy -f segment:  ${ffCpuS.toFixed(2)} CPU s for the same ${minutes} min -> ${perHour(ffCpuS).toFixed(1)} CPU s per hour (${fm[3]} s wall)`,
  );
  console.log(`  ratio ours/ffmpeg (recorder alone): ${(recorderCpuS / Math.max(ffCpuS, 0.001)).toFixed(2)}`);
  if (realTimeSeconds > 0) {
    // Real time: 30 frames a second against the wall clock; every fdatasync (one per second) happens.
    const rtFrames = realTimeSeconds * 30;
    const rtBase = await run(false, rtFrames, units, dir, true);
    const rtRec = await run(true, rtFrames, units, dir, true);
    const rtCpu = Math.max(0, rtRec.cpuS - rtBase.cpuS);
    console.log(`Real time, ${realTimeSeconds} s at 30 fps (paced), extrapolated to 1 hour:`);
    console.log(`  hub + draining reader only:      ${rtBase.cpuS.toFixed(2)} CPU s - subtracted`);
    console.log(`  hub + recorder:                  ${rtRec.cpuS.toFixed(2)} CPU s`);
    console.log(
      `  recorder alone:                  ${rtCpu.toFixed(2)} CPU s -> ${((rtCpu * 3600) / realTimeSeconds).toFixed(1)} CPU s per hour (${((rtCpu / realTimeSeconds) * 100).toFixed(2)} % of one core), plus thumbnails as above`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
}

await main();
