/**
 * The stdin framing check shared by test/sources/stdin-framing.test.ts and
 * bench/stdin-framing-bench.ts: a real pipe from chunked-frame-writer (each
 * frame in several chunks with random pauses) into a StreamSource, while
 * child processes spin on the CPU, then every delivered access unit compared
 * byte for byte with the parser's access units of the original file.
 */
import { spawn, type ChildProcess, spawnSync } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AccessUnit } from '../src/h264/access-unit.js';
import { parseAnnexB } from '../src/h264/h264-stream-parser.js';
import { Logger } from '../src/log/logger.js';
import { StreamSource } from '../src/sources/stream-source.js';

const writerPath = join(dirname(fileURLToPath(import.meta.url)), 'chunked-frame-writer.js');

/** Options of {@link runChunkedFraming}. */
export interface ChunkedFramingOptions {
  /** An Annex-B file (e.g. 720p from ffmpeg). */
  input: string;
  /** Chunk plan seed. */
  seed: number;
  /** Largest pause between chunks and frames, ms. */
  maxGapMs: number;
  /** Child processes spinning on the CPU while the frames flow. */
  busyLoops: number;
  /** Each busy loop stops by itself after this long, ms (and is killed at the end anyway). */
  busyLimitMs: number;
  /** Idle-point grace of the framer, ms. Default 2. */
  idleCloseMs?: number;
}

/** Result of {@link runChunkedFraming}. */
export interface ChunkedFramingResult {
  /** Access units in the file. */
  expected: number;
  delivered: number;
  /** Delivered access units whose NAL units differ from the file's (cut short, merged, damaged). */
  corrupted: number;
  /** Per frame: delivery time minus the time its last byte was written, ms (frames after the writer's end excluded). */
  closeLatenciesMs: number[];
  /** Pauses after which the frame continued: where cutting on idle alone would have damaged it. */
  midFramePauses: number;
  idlePauses: number;
}

function sameNals(a: AccessUnit, b: AccessUnit): boolean {
  const x = a.nals.filter((n) => n.type !== 9);
  const y = b.nals.filter((n) => n.type !== 9);
  if (x.length !== y.length) return false;
  return x.every((n, i) => Buffer.compare(n.data, (y[i] as AccessUnit['nals'][number]).data) === 0);
}

export async function runChunkedFraming(options: ChunkedFramingOptions): Promise<ChunkedFramingResult> {
  const reference = parseAnnexB(readFileSync(options.input)).accessUnits;
  const work = mkdtempSync(join(tmpdir(), 'rearview-framing-'));
  const stampsPath = join(work, 'stamps.json');
  const busy: ChildProcess[] = [];
  const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
  try {
    for (let i = 0; i < options.busyLoops; i++) {
      busy.push(
        spawn(
          process.execPath,
          ['-e', `const end = Date.now() + ${Math.round(options.busyLimitMs)}; while (Date.now() < end) {}`],
          { stdio: 'ignore' },
        ),
      );
    }
    const writer = spawn(
      process.execPath,
      [writerPath, options.input, stampsPath, String(options.seed), String(options.maxGapMs)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const got: AccessUnit[] = [];
    const deliveredAt: number[] = [];
    const source = new StreamSource({
      name: 'chunked',
      input: writer.stdout,
      logger: new Logger({ level: 'silent' }),
      idleCloseMs: options.idleCloseMs ?? 2,
    });
    const ended = new Promise<void>((resolve) => source.onExit(() => resolve()));
    await source.start({
      accessUnit: (au) => {
        deliveredAt.push(nowMs());
        got.push(au);
      },
      discontinuity: () => undefined, // the bench counts frames, not restarts
    });
    const writerEnded = new Promise<number>((resolve) => writer.once('exit', (code) => resolve(code ?? -1)));
    await ended;
    if ((await writerEnded) !== 0) throw new Error('the chunked writer failed');
    const stats = source.framerStats;
    await source.close();
    let corrupted = 0;
    for (let i = 0; i < got.length; i++) {
      const ref = reference[i];
      if (!ref || !sameNals(got[i] as AccessUnit, ref)) corrupted++;
    }
    const stamps = JSON.parse(readFileSync(stampsPath, 'utf8')) as number[];
    // The last frame closes only at the end of the stream, not by a signal: left out.
    const closeLatenciesMs: number[] = [];
    for (let i = 0; i < Math.min(stamps.length, deliveredAt.length) - 1; i++)
      closeLatenciesMs.push((deliveredAt[i] as number) - (stamps[i] as number));
    return {
      expected: reference.length,
      delivered: got.length,
      corrupted: corrupted + Math.max(0, reference.length - got.length),
      closeLatenciesMs,
      midFramePauses: stats?.midFramePauses ?? 0,
      idlePauses: stats?.idlePauses ?? 0,
    };
  } finally {
    for (const child of busy) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Writes `frames` frames of a 720p30, 8 Mbit/s Baseline-like test pattern (no B-frames, an IDR every
 * 30 frames) as Annex-B to `output` with `ffmpeg`: the input of the framing test and its bench.
 */
export function encode720pTestStream(ffmpeg: string, output: string, frames: number): void {
  const gen = spawnSync(ffmpeg, [
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=1280x720:rate=30',
    '-frames:v',
    String(frames),
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-bf',
    '0',
    '-g',
    '30',
    '-b:v',
    '8M',
    '-f',
    'h264',
    output,
  ]);
  if (gen.status !== 0) throw new Error(`ffmpeg could not make the test stream: ${String(gen.stderr)}`);
}
