/**
 * Helper process of the stdin framing check (bench/stdin-framing-run.ts):
 * writes an Annex-B file's access units to stdout, each in 2 to 5 chunks
 * with random pauses (0 to MAXGAP ms) between chunks and between frames, as
 * a loaded writer of unknown origin may, and saves, as JSON to STAMPS, the
 * monotonic time (shared by all processes) at which each frame's last byte
 * was written. The chunk plan comes from SEED, so a run can be repeated.
 * Usage: node chunked-frame-writer.js INPUT.h264 STAMPS.json SEED MAXGAP
 */
import { readFileSync, writeFileSync, writeSync } from 'node:fs';
import { parseAnnexB } from '../src/h264/h264-stream-parser.js';

const [input, stampsPath, seedArg = '1', maxGapArg = '4'] = process.argv.slice(2);
if (!input || !stampsPath) throw new Error('usage: chunked-frame-writer INPUT.h264 STAMPS.json SEED MAXGAP');
const bytes = readFileSync(input);
const frames = parseAnnexB(bytes).accessUnits.map((au) => bytes.subarray(au.offset, au.offset + au.byteLength));
const maxGapMs = Number(maxGapArg);
let seed = Number(seedArg) >>> 0 || 1;
/** xorshift32: the same plan for the same seed. */
const random = (): number => {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed / 0x1_0000_0000;
};
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

function writeAll(chunk: Uint8Array): void {
  let off = 0;
  while (off < chunk.length) {
    try {
      off += writeSync(1, chunk, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, random() * maxGapMs));
const stamps: number[] = [];
for (const frame of frames) {
  const parts = 2 + Math.floor(random() * 4);
  // Cut points anywhere in the frame: inside start codes, NAL headers and slice data alike.
  const cuts = Array.from({ length: parts - 1 }, () => 1 + Math.floor(random() * (frame.length - 1))).sort(
    (a, b) => a - b,
  );
  let at = 0;
  for (const cut of [...cuts, frame.length]) {
    if (cut > at) writeAll(frame.subarray(at, cut));
    at = Math.max(at, cut);
    if (at < frame.length) await pause();
  }
  stamps.push(nowMs());
  await pause();
}
writeFileSync(stampsPath, JSON.stringify(stamps));
