/**
 * A toy overtake warning: watches a region of the rear view (by default the
 * left third, where an overtaking vehicle appears on a right-hand-traffic
 * road; pass `right` for the other side) and warns when its brightness
 * changes sharply between frames, as when a car's shape or headlights move
 * in. Real detection needs a model; this shows the plumbing: connect() with
 * the 'latest' policy (a slow analysis never lags behind the road), decode()
 * to small grey-level frames, a few lines of arithmetic per frame.
 *
 *   node dist/examples/overtake-warning.js tcp://velovision-rearview.local:5000 left 12
 */
import { connect, decode } from '../src/client/index.js';

const url = process.argv[2] ?? 'tcp://velovision-rearview.local:5000';
const side = process.argv[3] === 'right' ? 'right' : 'left';
/** Mean luma change (0..255) between consecutive frames that triggers a warning. */
const threshold = Number(process.argv[4] ?? 12);
const width = 160;
const height = 90;

/** Mean of the Y plane over the watched third of the picture. */
function regionLuma(y: Uint8Array): number {
  const x0 = side === 'left' ? 0 : Math.floor((width * 2) / 3);
  const x1 = x0 + Math.floor(width / 3);
  let sum = 0;
  for (let row = Math.floor(height / 3); row < height; row++) {
    for (let x = x0; x < x1; x++) sum += y[row * width + x] ?? 0;
  }
  return sum / ((x1 - x0) * (height - Math.floor(height / 3)));
}

// Status lines go to stderr, the warnings alone to stdout (so they can be piped on).
console.error(`overtake-warning: connecting to ${url} ...`);
const stream = connect(url, { policy: 'latest' });
process.once('SIGINT', () => void stream.close());
let previous: number | undefined;
let quietUntilMs = 0;
for await (const frame of decode(stream, { format: 'yuv420p', width, height })) {
  // Without this line a quiet road looks exactly like a program that never started.
  if (previous === undefined)
    console.error(
      `overtake-warning: running: watching the ${side} third of ${url} (threshold ${threshold}); Ctrl-C to stop`,
    );
  // yuv420p: the first width*height bytes are the Y (brightness) plane.
  const luma = regionLuma(frame.data.subarray(0, width * height));
  const now = Date.now();
  if (previous !== undefined && Math.abs(luma - previous) > threshold && now > quietUntilMs) {
    const age = frame.capturedAtMs === undefined ? '' : ` (${(now - frame.capturedAtMs).toFixed(0)} ms after capture)`;
    console.log(
      `${new Date(now).toISOString()} WARNING: something moving in on the ${side}: brightness ${previous.toFixed(0)} -> ${luma.toFixed(0)}${age}`,
    );
    quietUntilMs = now + 1000; // one warning per second at most
  }
  previous = luma;
}
console.error('overtake-warning: stream closed, stopped');
