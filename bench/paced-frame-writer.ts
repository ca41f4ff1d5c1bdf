/**
 * Helper process of source-framing-bench: writes the sample clip to stdout
 * one frame per write at a fixed rate (like `rpicam-vid --flush`), stamping
 * each write with the monotonic clock (shared by all processes), and saves
 * the stamps as JSON to the file named by argv[2] when done.
 * Usage: node paced-frame-writer.js STAMPS.json FRAMES FPS
 */
import { readFileSync, writeFileSync, writeSync } from 'node:fs';
import { parseAnnexB } from '../src/h264/h264-stream-parser.js';

const [stampsPath, framesArg = '150', fpsArg = '30'] = process.argv.slice(2);
if (!stampsPath) throw new Error('usage: paced-frame-writer STAMPS.json FRAMES FPS');
const sample = readFileSync(new URL('../../assets/sample-640x360.h264', import.meta.url));
const frames = parseAnnexB(sample).accessUnits.map((au) => sample.subarray(au.offset, au.offset + au.byteLength));
const count = Number(framesArg);
const intervalMs = 1000 / Number(fpsArg);
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const stamps: number[] = [];
const start = nowMs();
let n = 0;
const tick = () => {
  const frame = frames[n % frames.length] as Uint8Array;
  stamps.push(nowMs());
  // One blocking write per frame, as an encoder with --flush does.
  let off = 0;
  while (off < frame.length) {
    try {
      off += writeSync(1, frame, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
  n++;
  if (n === count) {
    writeFileSync(stampsPath, JSON.stringify(stamps));
    // Stay alive briefly so the reader can finish; the bench closes us.
    setTimeout(() => process.exit(0), 1000);
    return;
  }
  setTimeout(tick, Math.max(0, start + n * intervalMs - nowMs()));
};
tick();
