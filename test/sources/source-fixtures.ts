/** Shared helpers of the source tests: a recording sink, the fake encoders, process checks. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { Logger } from '../../src/log/logger.js';
import type { SourceSink } from '../../src/sources/capture-source.js';
import type { Clock } from '../../src/util/clock.js';
import { FakeClock } from '../support/fake-clock.js';
import { repoRoot } from '../support/paths.js';

/** The fake rpicam-vid / libcamera-vid / gst-launch-1.0 / ffmpeg executables. */
export const fakeBinDir = join(repoRoot, 'test', 'support', 'fake-bin');

/** The bundled sample clip (300 frames, 30 fps VUI timing, IDR every 30 frames). */
export const samplePath = join(repoRoot, 'assets', 'sample-640x360.h264');

/** One delivered access unit or discontinuity, in order. */
export type SinkEvent =
  | { kind: 'au'; au: AccessUnit; capturedAtMs: number; atMono: number }
  | { kind: 'discontinuity'; reason: string; atMono: number };

/** A SourceSink that records everything it receives. */
export class CollectingSink implements SourceSink {
  readonly events: SinkEvent[] = [];
  constructor(private readonly monoNow: () => number = () => performance.now()) {}
  accessUnit(au: AccessUnit, capturedAtMs: number): void {
    this.events.push({ kind: 'au', au, capturedAtMs, atMono: this.monoNow() });
  }
  discontinuity(reason: string): void {
    this.events.push({ kind: 'discontinuity', reason, atMono: this.monoNow() });
  }
  get accessUnits(): Array<Extract<SinkEvent, { kind: 'au' }>> {
    return this.events.filter((e): e is Extract<SinkEvent, { kind: 'au' }> => e.kind === 'au');
  }
  get discontinuities(): string[] {
    return this.events.flatMap((e) => (e.kind === 'discontinuity' ? [e.reason] : []));
  }
}

/** The shared test FakeClock as the sources' Clock (one time for both monotonic and wall readings). */
export function fakeSourceClock(startMs = 1_700_000_000_000): { clock: Clock; fake: FakeClock } {
  const fake = new FakeClock(startMs);
  // A plain object (not the instance), so tests can spread it and replace one reading.
  return {
    fake,
    clock: {
      monoNow: fake.monoNow,
      wallNow: fake.wallNow,
      setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
      clearTimeout: (h) => fake.clearTimeout(h),
    },
  };
}

/** A logger that keeps its lines in memory. */
export function memoryLogger(level: 'debug' | 'info' = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new Logger({ level, sink: (line) => lines.push(line) }), lines };
}

/** This process's environment with the fake encoders first on PATH, plus `extra`. */
export function fakeEnv(extra: Record<string, string> = {}, binDir = fakeBinDir): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}`, FAKE_NODE: process.execPath, ...extra };
}

/** The JSON lines a fake encoder appended to its log. */
export interface FakeLaunch {
  tool: string;
  args: string[];
  pid: number;
  childPid?: number;
}

/** Reads a fake encoder log (empty when not written yet). */
export function readLaunches(logPath: string): FakeLaunch[] {
  if (!existsSync(logPath)) return [];
  return readFileSync(logPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FakeLaunch);
}

/** True while a process with this pid exists (zombies excluded). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped) still answers kill(0): check its state.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}
