/**
 * `rearview nalu FILE` end to end on a >= 100 MB camera-like stream (720p30,
 * 8 Mbit/s, no B-frames, from camera-stream.ts), as a user runs it: a new
 * process per run, output to /dev/null. Modes: the default per-NAL listing,
 * --summary and --frames. Start-up (Node, module loading) is measured with
 * the same command on a tiny file (the stream's first 64 KB) and subtracted.
 * The peer, in the same run: `ffmpeg -f h264 -i FILE -c copy -f null -`,
 * also with its start-up measured the same way. Commands are interleaved
 * round-robin, so load from elsewhere spreads over all of them; medians and
 * bests of `--runs` runs. Goals: >= 1000 MB/s with start-up excluded, and a
 * shorter wall time than the ffmpeg command.
 *
 * Run: `npm run build && node dist/bench/nalu-bench.js [--runs N] [--baseline CLI]`,
 * where CLI is another build's dist/src/cli/main.js, measured in the same
 * rounds (to compare with an earlier version).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ensureCameraStream, findFfmpeg } from './camera-stream.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 7;
/** Bytes of the stream's start used to measure start-up (a few frames). */
const TINY_BYTES = 64 * 1024;

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const baselineArg = process.argv.indexOf('--baseline');
const baseline = baselineArg > 0 ? process.argv[baselineArg + 1] : undefined;
const ffmpeg = findFfmpeg();
const file = ensureCameraStream();
const size = statSync(file).size;
const tiny = `${file}.first-64KB.h264`;
{
  const fd = openSync(file, 'r');
  const head = new Uint8Array(TINY_BYTES);
  readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  writeFileSync(tiny, head);
}

interface Command {
  name: string;
  argv: (input: string) => string[];
  /** Checks the output of a full run (so a broken run is never timed as a fast one). */
  check?: (stdout: string) => void;
}

const nalu =
  (...options: string[]) =>
  (input: string) => [process.execPath, cli, 'nalu', input, ...options];
const commands: Command[] = [
  { name: 'rearview nalu FILE (per-NAL listing)', argv: nalu() },
  {
    name: 'rearview nalu FILE --summary',
    argv: nalu('--summary'),
    check: (out) => {
      if (!/^Access units: [1-9]\d*, keyframes: [1-9]/m.test(out)) throw new Error(`unexpected summary:\n${out}`);
    },
  },
  { name: 'rearview nalu FILE --frames', argv: nalu('--frames') },
  ...(baseline
    ? [
        {
          name: 'baseline nalu FILE --summary',
          argv: (input: string) => [process.execPath, baseline, 'nalu', input, '--summary'],
        },
      ]
    : []),
  {
    name: 'ffmpeg -f h264 -i FILE -c copy -f null -',
    argv: (input) => [ffmpeg, '-v', 'error', '-f', 'h264', '-i', input, '-c', 'copy', '-f', 'null', '-'],
  },
];

/** Wall time of one run in ms, process start to exit; stdout to /dev/null unless it is checked. */
function timeRun(command: Command, input: string, check: boolean): number {
  const [bin, ...args] = command.argv(input) as [string, ...string[]];
  const devNull = openSync('/dev/null', 'w');
  try {
    const start = performance.now();
    const r = spawnSync(bin, args, {
      stdio: ['ignore', check && command.check ? 'pipe' : devNull, 'pipe'],
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    const ms = performance.now() - start;
    if (r.status !== 0) throw new Error(`${command.name} failed (exit ${r.status}): ${r.stderr}`);
    // ffmpeg decodes a frame or two while probing and may complain about the tiny file's cut-off last frame.
    if (bin !== ffmpeg && r.stderr.length > 0) throw new Error(`${command.name} wrote to standard error: ${r.stderr}`);
    if (check) command.check?.(r.stdout);
    return ms;
  } finally {
    closeSync(devNull);
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

console.log(
  `nalu-bench: ${file}, ${(size / 1e6).toFixed(1)} MB; start-up from a ${TINY_BYTES / 1024} KB file; ${RUNS} runs each, interleaved; node ${process.version}`,
);
const full = new Map<Command, number[]>(commands.map((c) => [c, []]));
const startup = new Map<Command, number[]>(commands.map((c) => [c, []]));
for (const c of commands) timeRun(c, file, true); // warm-up: page cache, checks
for (let run = 0; run < RUNS; run++) {
  for (const c of commands) {
    full.get(c)!.push(timeRun(c, file, false));
    startup.get(c)!.push(timeRun(c, tiny, false));
  }
}

interface Row {
  name: string;
  medianMs: number;
  bestMs: number;
  startupMs: number;
  /** Median wall time minus median start-up. */
  netMs: number;
}
const rows: Row[] = commands.map((c) => {
  const times = full.get(c)!;
  const medianMs = median(times);
  const startupMs = median(startup.get(c)!);
  return { name: c.name, medianMs, bestMs: Math.min(...times), startupMs, netMs: Math.max(1, medianMs - startupMs) };
});
const peer = rows[rows.length - 1]!;
const mbps = (ms: number): number => size / 1e6 / (ms / 1000);
const width = Math.max(...rows.map((r) => r.name.length));
for (const r of rows) {
  console.log(
    `${r.name.padEnd(width)}  wall ${r.medianMs.toFixed(0).padStart(5)} ms median (best ${r.bestMs.toFixed(0).padStart(5)}), start-up ${r.startupMs.toFixed(0).padStart(4)} ms, net ${r.netMs.toFixed(0).padStart(5)} ms = ${mbps(r.netMs).toFixed(0).padStart(5)} MB/s; wall x${(peer.medianMs / r.medianMs).toFixed(2)} of ffmpeg's, net x${(peer.netMs / r.netMs).toFixed(2)}`,
  );
}
const naluRows = rows.slice(0, 3);
const slowest = naluRows.reduce((a, b) => (mbps(a.netMs) < mbps(b.netMs) ? a : b));
const slowerThanPeer = naluRows.filter((r) => r.medianMs >= peer.medianMs);
console.log(
  `goals: >= 1000 MB/s without start-up: ${mbps(slowest.netMs) >= 1000 ? 'met' : 'MISSED'} (slowest mode ${mbps(slowest.netMs).toFixed(0)} MB/s); faster than ffmpeg: ${slowerThanPeer.length === 0 ? 'met' : `MISSED (${slowerThanPeer.map((r) => r.name).join(', ')})`}`,
);
