/**
 * H.264 parsing throughput on a >= 100 MB camera-like stream (720p30,
 * 8 Mbit/s, no B-frames): (a) start-code scanning with AnnexBScanner and
 * (b) full access-unit assembly with SPS/PPS/slice-header parsing with
 * H264StreamParser, against `ffmpeg -f h264 -i FILE -c copy -f null -` on
 * the same file in the same run. Goals: scanning >= 2 GB/s, assembly >= 1 GB/s.
 *
 * Run: npm run bench, or `node dist/bench/h264-bench.js [--runs N]`.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { AnnexBScanner } from '../src/h264/annexb-scanner.js';
import { H264StreamParser } from '../src/h264/h264-stream-parser.js';
import { buildCaptureTimeSei, readCaptureTimeSei } from '../src/h264/capture-time-sei.js';
import { ensureCameraStream, findFfmpeg } from './camera-stream.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;

/** Splits `bytes` into views of `size` bytes (what a socket or file read hands over). */
function chunksOf(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, Math.min(at + size, bytes.length)));
  return chunks;
}

/** Best and median wall time of `runs` runs of `fn`, in ms (one warm-up run first). */
function measure(runs: number, fn: () => void): { bestMs: number; medianMs: number } {
  fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { bestMs: times[0]!, medianMs: times[Math.floor(times.length / 2)]! };
}

function mbPerS(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

const file = ensureCameraStream();
const bytes = readFileSync(file);
const size = bytes.length;
console.log(
  `h264-bench: ${file}, ${(size / 1e6).toFixed(1)} MB, ${RUNS} runs each (best / median), node ${process.version}`,
);

interface Row {
  name: string;
  bestMs: number;
  medianMs: number;
  detail: string;
}
const rows: Row[] = [];

for (const chunkSize of [64 * 1024, 1024 * 1024]) {
  const chunks = chunksOf(bytes, chunkSize);
  let nals = 0;
  const scan = measure(RUNS, () => {
    nals = 0;
    const scanner = new AnnexBScanner({ onNal: () => nals++ });
    for (const c of chunks) scanner.push(c);
    scanner.flush();
  });
  rows.push({ name: `scan (AnnexBScanner), ${chunkSize / 1024} KiB chunks`, ...scan, detail: `${nals} NAL units` });

  let aus = 0;
  let keys = 0;
  let errors = 0;
  const assemble = measure(RUNS, () => {
    aus = 0;
    keys = 0;
    errors = 0;
    const parser = new H264StreamParser({
      onAccessUnit: (au) => {
        aus++;
        if (au.isKey) keys++;
      },
      onError: () => errors++,
    });
    for (const c of chunks) parser.push(c);
    parser.flush();
  });
  rows.push({
    name: `assemble (H264StreamParser), ${chunkSize / 1024} KiB chunks`,
    ...assemble,
    detail: `${aus} access units, ${keys} keyframes, ${errors} errors`,
  });
}

// The peer: FFmpeg's raw H.264 demuxer + parser, stream copy to the null muxer.
const ffmpeg = findFfmpeg();
function timeFfmpeg(input: string): { bestMs: number; medianMs: number; packets: string } {
  const times: number[] = [];
  let packets = '';
  for (let i = 0; i < Math.max(3, Math.min(RUNS, 5)); i++) {
    const start = performance.now();
    const r = spawnSync(
      ffmpeg,
      ['-hide_banner', '-nostats', '-f', 'h264', '-i', input, '-c', 'copy', '-f', 'null', '-'],
      { encoding: 'utf8' },
    );
    times.push(performance.now() - start);
    if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
    packets = /video:\S+/.exec(r.stderr)?.[0] ?? '';
  }
  times.sort((a, b) => a - b);
  return { bestMs: times[0]!, medianMs: times[Math.floor(times.length / 2)]!, packets };
}
const ffmpegFull = timeFfmpeg(file);
// FFmpeg's start-up (shared libraries, probing) measured on the first 1 MB of the same stream,
// so the comparison can also be made on parsing alone.
const small = `${file}.first-1MB.h264`;
writeFileSync(small, bytes.subarray(0, 1_000_000));
const ffmpegStartup = timeFfmpeg(small);
const ffmpegRow: Row = {
  name: 'ffmpeg -f h264 -i FILE -c copy -f null -',
  bestMs: ffmpegFull.bestMs,
  medianMs: ffmpegFull.medianMs,
  detail: `${ffmpeg}, process start included, ${ffmpegFull.packets}`,
};
const ffmpegNetRow: Row = {
  name: 'ffmpeg, minus its start-up on a 1 MB file',
  bestMs: Math.max(1, ffmpegFull.bestMs - ffmpegStartup.bestMs),
  // Differences of medians of separate runs mean little: report the best-case difference for both.
  medianMs: Math.max(1, ffmpegFull.bestMs - ffmpegStartup.bestMs),
  detail: `start-up ${ffmpegStartup.bestMs.toFixed(1)} ms`,
};
rows.push(ffmpegRow, ffmpegNetRow);

const width = Math.max(...rows.map((r) => r.name.length));
for (const r of rows) {
  const ratio = ffmpegRow.bestMs / r.bestMs;
  const netRatio = ffmpegNetRow.bestMs / r.bestMs;
  console.log(
    `${r.name.padEnd(width)}  ${mbPerS(size, r.bestMs).toFixed(0).padStart(6)} MB/s best, ${mbPerS(size, r.medianMs).toFixed(0).padStart(6)} MB/s median, ${r.bestMs.toFixed(1).padStart(8)} ms  x${ratio.toFixed(1)} vs ffmpeg, x${netRatio.toFixed(1)} vs ffmpeg minus start-up  (${r.detail})`,
  );
}
const best = (prefix: string): number =>
  Math.max(...rows.filter((r) => r.name.startsWith(prefix)).map((r) => mbPerS(size, r.bestMs)));
const scanBest = best('scan');
const assembleBest = best('assemble');
console.log(
  `goals: scanning >= 2000 MB/s: ${scanBest >= 2000 ? 'met' : 'MISSED'} (${scanBest.toFixed(0)}); assembly >= 1000 MB/s: ${assembleBest >= 1000 ? 'met' : 'MISSED'} (${assembleBest.toFixed(0)})`,
);

// Capture-time SEI: built once per frame by the daemon, read once per frame by clients.
{
  const n = 1_000_000;
  const base = Date.now();
  let sink = 0;
  const build = measure(3, () => {
    for (let i = 0; i < n; i++) sink += buildCaptureTimeSei(base + i * 33.333).length;
  });
  const nal = buildCaptureTimeSei(base);
  const read = measure(3, () => {
    for (let i = 0; i < n; i++) sink += readCaptureTimeSei(nal) ?? 0;
  });
  console.log(
    `capture-time SEI: build ${((build.bestMs * 1e6) / n).toFixed(0)} ns, read ${((read.bestMs * 1e6) / n).toFixed(0)} ns per frame (${sink > 0 ? 'ok' : ''})`,
  );
}
