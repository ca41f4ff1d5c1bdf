/**
 * Frames cut short by the stdin framing under CPU competition, and what the
 * rule costs in close latency. Generates N frames (default 5000) of 720p with
 * ffmpeg, writes them through a real pipe in 2-5 chunks per frame with random
 * pauses (0-4 ms), with two busy loops spinning, and compares every access
 * unit with the file's. Prints corrupted frames, close latency p50/p99/max
 * (delivery minus the writer's last byte of the frame) and the mid-frame
 * pauses where a cut on idle alone would have damaged a frame.
 * Run: node dist/bench/stdin-framing-bench.js [frames]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile } from './percentile.js';
import { encode720pTestStream, runChunkedFraming } from './stdin-framing-run.js';

const frames = Number(process.argv[2] ?? 5000);
const work = mkdtempSync(join(tmpdir(), 'rearview-stdin-bench-'));
try {
  const input = join(work, '720p.h264');
  encode720pTestStream('ffmpeg', input, frames);
  const r = await runChunkedFraming({ input, seed: 20240601, maxGapMs: 4, busyLoops: 2, busyLimitMs: 15 * 60_000 });
  const lat = r.closeLatenciesMs;
  console.log(`frames ${r.expected}, delivered ${r.delivered}, corrupted ${r.corrupted}`);
  console.log(
    `close latency ms: p50 ${percentile(lat, 50).toFixed(2)}, p99 ${percentile(lat, 99).toFixed(2)}, max ${percentile(lat, 100).toFixed(2)} (${lat.length} frames)`,
  );
  console.log(
    `idle pauses ${r.idlePauses}, of them mid-frame (a cut on idle alone would have damaged the frame) ${r.midFramePauses}`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
