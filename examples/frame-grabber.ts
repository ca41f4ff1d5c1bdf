/**
 * Saves a JPEG of the live picture every N seconds (default 5), e.g. for a
 * ride log or a dataset: waits for the first keyframe at or after each due
 * time (due times on a fixed grid, see next-shot-time.ts) and
 * has ffmpeg turn that one access unit into a JPEG (a keyframe decodes on
 * its own, so nothing else needs decoding in between).
 *
 *   node dist/examples/frame-grabber.js tcp://velovision-rearview.local:5000 ./shots 5
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { connect, findFfmpeg } from '../src/client/index.js';
import { nextShotTime } from './next-shot-time.js';

const url = process.argv[2] ?? 'tcp://velovision-rearview.local:5000';
const dir = process.argv[3] ?? 'shots';
const everyMs = Number(process.argv[4] ?? 5) * 1000;
if (!(everyMs > 0)) {
  console.error(
    `frame-grabber: the interval must be a positive number of seconds, got ${JSON.stringify(process.argv[4])}`,
  );
  process.exit(2);
}
mkdirSync(dir, { recursive: true });
const ffmpeg = findFfmpeg();

function saveJpeg(annexB: Uint8Array, file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      ffmpeg,
      ['-v', 'error', '-y', '-f', 'h264', '-i', 'pipe:0', '-frames:v', '1', '-q:v', '3', file],
      { stdio: ['pipe', 'ignore', 'inherit'] },
    );
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited with ${code}`))));
    child.stdin.end(annexB);
  });
}

const stream = connect(url, { policy: 'latest' });
process.once('SIGINT', () => void stream.close());
let dueAtMs: number | undefined;
for await (const frame of stream) {
  if (!frame.isKey || (dueAtMs !== undefined && frame.receivedAtMs < dueAtMs)) continue;
  // The next shot is due one interval after this one was due, not after this keyframe came.
  dueAtMs = nextShotTime(dueAtMs ?? frame.receivedAtMs, frame.receivedAtMs, everyMs);
  const stamp = new Date(frame.capturedAtMs ?? frame.receivedAtMs).toISOString().replace(/[:.]/g, '-');
  const file = join(dir, `frame-${stamp}.jpg`);
  await saveJpeg(frame.data, file);
  console.log(`saved ${file} (${frame.width}x${frame.height})`);
}
