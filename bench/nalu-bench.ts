/**
 * `rearview nalu FILE` end to end on a >= 100 MB camera-like stream (720p30,
 * 8 Mbit/s, no B-frames, from camera-stream.ts), as a user runs it: a new
 * process per run, output to /dev/null. Modes: the default per-NAL listing,
 * --summary, --frames and --json. Start-up (Node, module loading) is
 * excluded two ways: (1) the same command on a tiny file (the stream's
 * first 64 KB) is timed and its median subtracted from the median wall time;
 * (2) nalu-bench-probe.js, preloaded, times each run from the moment the
 * input is opened to exit and reports its CPU time and peak RSS. The peer,
 * in the same run: `ffmpeg -f h264 -i FILE -c copy -f null -`, its start-up
 * measured as in (1). Commands are interleaved round-robin, so load from
 * elsewhere spreads over all of them; medians of `--runs` runs, and the load
 * average before and after. Goals: >= 1000 MB/s with start-up excluded, and
 * faster than the ffmpeg command.
 *
 * Run: `npm run build && node dist/bench/nalu-bench.js [--runs N] [--baseline CLI]`,
 * where CLI is another build's dist/src/cli/main.js, measured in the same
 * rounds (to compare with an earlier version).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ensureCameraStream, findFfmpeg } from './camera-stream.js';
import type { NaluProbeReport } from './nalu-bench-probe.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 7;
/** Bytes of the stream's start used to measure start-up (a few frames). */
const TINY_BYTES = 64 * 1024;

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'src', 'cli', 'main.js');
const probe = join(here, 'nalu-bench-probe.js');
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
  /** Runs with the probe (Node commands). */
  probed: boolean;
}

const nalu =
  (main: string, ...options: string[]) =>
  (input: string) => [process.execPath, '--import', probe, main, 'nalu', input, ...options];
const lines =
  (pattern: RegExp, min: number) =>
  (out: string): void => {
    const n = out.split('\n').filter((l) => pattern.test(l)).length;
    if (n < min) throw new Error(`expected >= ${min} lines like ${pattern}, got ${n}`);
  };
const commands: Command[] = [
  {
    name: 'rearview nalu FILE (per-NAL listing)',
    argv: nalu(cli),
    check: lines(/^Found NALU, Type: /, 1000),
    probed: true,
  },
  {
    name: 'rearview nalu FILE --summary',
    argv: nalu(cli, '--summary'),
    check: (out) => {
      if (!/^Access units: [1-9]\d*, keyframes: [1-9]/m.test(out)) throw new Error(`unexpected summary:\n${out}`);
    },
    probed: true,
  },
  {
    name: 'rearview nalu FILE --frames',
    argv: nalu(cli, '--frames'),
    check: lines(/^Frame \d+: /, 1000),
    probed: true,
  },
  { name: 'rearview nalu FILE --json', argv: nalu(cli, '--json'), check: lines(/^\{"offset":/, 1000), probed: true },
  ...(baseline ? [{ name: 'baseline nalu FILE (per-NAL listing)', argv: nalu(baseline), probed: true }] : []),
  {
    name: 'ffmpeg -f h264 -i FILE -c copy -f null -',
    argv: (input) => [ffmpeg, '-v', 'error', '-f', 'h264', '-i', input, '-c', 'copy', '-f', 'null', '-'],
    probed: false,
  },
];

interface Run {
  wallMs: number;
  probe?: NaluProbeReport;
}

/** One run, process start to exit; stdout to /dev/null unless it is checked. */
function timeRun(command: Command, input: string, check: boolean): Run {
  const [bin, ...args] = command.argv(input) as [string, ...string[]];
  const devNull = openSync('/dev/null', 'w');
  try {
    const start = performance.now();
    const r = spawnSync(bin, args, {
      stdio: ['ignore', check && command.check ? 'pipe' : devNull, 'pipe', 'pipe'],
      env: { ...process.env, NALU_BENCH_INPUT: input },
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });
    const wallMs = performance.now() - start;
    if (r.status !== 0) throw new Error(`${command.name} failed (exit ${r.status}): ${r.stderr}`);
    // ffmpeg decodes a frame or two while probing and may complain about the tiny file's cut-off last frame.
    if (bin !== ffmpeg && r.stderr.length > 0) throw new Error(`${command.name} wrote to standard error: ${r.stderr}`);
    if (check) command.check?.(r.stdout);
    if (!command.probed) return { wallMs };
    const report = String(r.output[3] ?? '').trim();
    if (!report) throw new Error(`${command.name}: no report from the probe`);
    return { wallMs, probe: JSON.parse(report) as NaluProbeReport };
  } finally {
    closeSync(devNull);
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

console.log(
  `nalu-bench: ${file}, ${(size / 1e6).toFixed(1)} MB; start-up from a ${TINY_BYTES / 1024} KB file; ${RUNS} runs each, interleaved; node ${process.version}; load average before: ${load()}`,
);
const full = new Map<Command, Run[]>(commands.map((c) => [c, []]));
const startup = new Map<Command, Run[]>(commands.map((c) => [c, []]));
for (const c of commands) timeRun(c, file, true); // warm-up: page cache, checks
for (let run = 0; run < RUNS; run++) {
  for (const c of commands) {
    full.get(c)!.push(timeRun(c, file, false));
    startup.get(c)!.push(timeRun(c, tiny, false));
  }
}
const loadAfter = load();

interface Row {
  name: string;
  medianMs: number;
  startupMs: number;
  /** Median wall time minus median start-up. */
  netMs: number;
  /** From the probe: median ms and CPU ms from opening the input to exit, largest peak RSS (MiB). */
  runMs?: number;
  cpuMs?: number;
  maxRssMiB?: number;
}
const rows: Row[] = commands.map((c) => {
  const runs = full.get(c)!;
  const medianMs = median(runs.map((r) => r.wallMs));
  const startupMs = median(startup.get(c)!.map((r) => r.wallMs));
  const row: Row = { name: c.name, medianMs, startupMs, netMs: Math.max(1, medianMs - startupMs) };
  const probes = runs.flatMap((r) => (r.probe && r.probe.runMs !== null && r.probe.cpuMs !== null ? [r.probe] : []));
  if (probes.length > 0) {
    row.runMs = median(probes.map((p) => p.runMs!));
    row.cpuMs = median(probes.map((p) => p.cpuMs!));
    row.maxRssMiB = Math.max(...probes.map((p) => p.maxRssKiB)) / 1024;
  }
  return row;
});
const peer = rows[rows.length - 1]!;
const mbps = (ms: number): number => size / 1e6 / (ms / 1000);
const width = Math.max(...rows.map((r) => r.name.length));
for (const r of rows) {
  const probed =
    r.runMs !== undefined
      ? `; from open to exit ${r.runMs.toFixed(0).padStart(4)} ms = ${mbps(r.runMs).toFixed(0).padStart(5)} MB/s (CPU ${r.cpuMs!.toFixed(0)} ms), peak RSS ${r.maxRssMiB!.toFixed(1)} MiB`
      : '';
  console.log(
    `${r.name.padEnd(width)}  wall ${r.medianMs.toFixed(0).padStart(5)} ms, start-up ${r.startupMs.toFixed(0).padStart(4)} ms, net ${r.netMs.toFixed(0).padStart(4)} ms = ${mbps(r.netMs).toFixed(0).padStart(5)} MB/s; vs ffmpeg: wall x${(peer.medianMs / r.medianMs).toFixed(2)}, net x${(peer.netMs / r.netMs).toFixed(2)}${probed}`,
  );
}
console.log(`load average after: ${loadAfter}`);
const naluRows = rows.filter((r) => r.name.startsWith('rearview'));
const slowest = naluRows.reduce((a, b) => ((a.runMs ?? a.netMs) > (b.runMs ?? b.netMs) ? a : b));
const slowerThanPeer = naluRows.filter((r) => r.netMs >= peer.netMs);
const slowerWall = naluRows.filter((r) => r.medianMs >= peer.medianMs);
console.log(
  `goals: >= 1000 MB/s from open to exit: ${mbps(slowest.runMs ?? slowest.netMs) >= 1000 ? 'met' : 'MISSED'} (slowest mode ${mbps(slowest.runMs ?? slowest.netMs).toFixed(0)} MB/s); faster than ffmpeg with start-up excluded: ${slowerThanPeer.length === 0 ? 'met' : `MISSED (${slowerThanPeer.map((r) => r.name).join(', ')})`}; wall time with start-up: ${slowerWall.length === 0 ? 'faster' : `slower (${slowerWall.map((r) => r.name).join(', ')})`}`,
);
