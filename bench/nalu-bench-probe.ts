/**
 * Preloaded (`node --import`) into each `rearview nalu FILE` run of
 * nalu-bench.ts: measures the run with start-up excluded, from the moment the
 * input file is opened (Node has started, the modules are loaded and the
 * options parsed by then) to process exit: wall time, CPU time (user +
 * system, every thread of the process) and the process's peak RSS. Written
 * as one JSON line to file descriptor 3, a pipe the bench reads, so standard
 * output and standard error stay the command's own. The input's path comes
 * in NALU_BENCH_INPUT.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { performance } from 'node:perf_hooks';

/** What the probe reports (nalu-bench.ts parses it). */
export interface NaluProbeReport {
  /** ms from opening the input to exit; null when the input was never opened. */
  runMs: number | null;
  /** CPU ms (user + system) over the same span. */
  cpuMs: number | null;
  /** Peak resident set size of the whole run, KiB. */
  maxRssKiB: number;
}

const input = process.env.NALU_BENCH_INPUT;
let openedAt: number | undefined;
let cpuAtOpen: NodeJS.CpuUsage | undefined;
const openSync = fs.openSync;
fs.openSync = ((path: fs.PathLike, ...rest: unknown[]) => {
  if (openedAt === undefined && String(path) === input) {
    openedAt = performance.now();
    cpuAtOpen = process.cpuUsage();
  }
  return (openSync as (...args: unknown[]) => number)(path, ...rest);
}) as typeof fs.openSync;
// ES module imports of node:fs see the wrapper only after this.
syncBuiltinESMExports();

process.on('exit', () => {
  const cpu = cpuAtOpen ? process.cpuUsage(cpuAtOpen) : undefined;
  const report: NaluProbeReport = {
    runMs: openedAt === undefined ? null : performance.now() - openedAt,
    cpuMs: cpu ? (cpu.user + cpu.system) / 1000 : null,
    maxRssKiB: process.resourceUsage().maxRSS,
  };
  try {
    fs.writeSync(3, `${JSON.stringify(report)}\n`);
  } catch {
    // Run without the bench's pipe on descriptor 3: nothing to report to.
  }
});
