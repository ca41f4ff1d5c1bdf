/**
 * The trailing AUD's effect on FFmpeg's decoder (docs/protocol.md, "Closing
 * frames at once"). Run: `npm run build && node dist/bench/trailing-aud-bench.js [--runs 3]`.
 *
 * A real ffmpeg (`-flags low_delay -threads 1 -f h264 -i tcp://... -f framemd5`)
 * decodes the hub's TCP output while the sample is published at 30 fps; each
 * decoded frame is identified by its md5 and its delay is the time from its
 * own frame being sent to its md5 line arriving. Runs with and without the
 * trailing AUD alternate; reported: the median delay of each and the
 * difference (one frame interval, 33 ms, is the expected gain).
 */
import { parseArgs } from 'node:util';
import { median, referenceMd5s, runTrailingAud } from './trailing-aud-run.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
const refMd5 = referenceMd5s();
const frames = 150;
const on: number[] = [];
const off: number[] = [];
let stalled = 0;
/** Median delay of one run, or undefined when FFmpeg put out under 90 % of the frames (a stalled run, retried). */
async function medianDelay(trailingAud: boolean): Promise<number> {
  for (;;) {
    const { delaysMs } = await runTrailingAud('ffmpeg', trailingAud, trailingAud ? 1 : 2, frames, refMd5, 33);
    if (delaysMs.length >= frames * 0.9 - 10) return median(delaysMs);
    stalled++;
  }
}
for (let r = 0; r < runs; r++) {
  on.push(await medianDelay(true));
  off.push(await medianDelay(false));
  console.log(
    `run ${r + 1}: frame sent -> decoded, median ${on.at(-1)!.toFixed(1)} ms with the AUD, ${off.at(-1)!.toFixed(1)} ms without`,
  );
}
console.log(
  `ffmpeg decoding tcp:// at 30 fps, median of ${runs} runs: ${median(on).toFixed(1)} ms with the trailing AUD, ${median(off).toFixed(1)} ms without (gain ${(median(off) - median(on)).toFixed(1)} ms); ${stalled} stalled run(s) retried`,
);
