/**
 * The tutorial's OpenCV viewer, in TypeScript: shows a camera's live stream.
 * Frames come from the client library (which reconnects and never lets the
 * viewer fall behind live) and are piped into ffplay, which shows them with
 * its low-latency flags. Without ffplay it prints one line per frame, which
 * is the frame-grabber half of the tutorial script.
 *
 *   npx tsc -p . && node dist/examples/viewer.js tcp://velovision-rearview.local:5000
 *
 * In your own project: `import { connect } from 'rearview/client';`
 */
import { spawn } from 'node:child_process';
import { connect } from '../src/client/index.js';

const url = process.argv[2] ?? 'tcp://velovision-rearview.local:5000';
const stream = connect(url, { policy: 'latest' });
stream.on('state', (e) =>
  console.error(
    `[${e.state}] ${e.url}${e.error ? `: ${e.error.message}` : ''}${e.delayMs ? ` (retry in ${e.delayMs} ms)` : ''}`,
  ),
);
process.once('SIGINT', () => void stream.close());

const ffplay = spawn(
  'ffplay',
  [
    '-hide_banner',
    '-loglevel',
    'error',
    '-fflags',
    'nobuffer',
    '-flags',
    'low_delay',
    '-framedrop',
    '-probesize',
    '32',
    '-analyzeduration',
    '0',
    '-window_title',
    `Video Stream ${url}`,
    '-f',
    'h264',
    '-i',
    'pipe:0',
  ],
  {
    stdio: ['pipe', 'ignore', 'inherit'],
  },
);
let viewer = true;
ffplay.on('error', () => {
  viewer = false;
  console.error('ffplay not found: printing frames instead (install ffmpeg to see the picture)');
});
ffplay.stdin.on('error', () => {
  // EPIPE when ffplay quits: reported by 'exit'
});
ffplay.on('exit', (code) => {
  if (code === 0) return void stream.close(); // window closed ("press q")
  if (viewer) console.error('ffplay cannot show a window here: printing frames instead');
  viewer = false;
});
// Sent after every frame so ffplay shows it at once instead of waiting for the next one.
const AUD = Uint8Array.of(0, 0, 0, 1, 0x09, 0xf0);

for await (const frame of stream) {
  if (viewer && ffplay.stdin.writable) {
    ffplay.stdin.write(frame.data);
    ffplay.stdin.write(AUD);
  } else {
    const latency =
      frame.capturedAtMs === undefined
        ? ''
        : `, ${(frame.receivedAtMs - frame.capturedAtMs).toFixed(1)} ms after capture`;
    console.log(
      `frame ${frame.seq}: ${frame.width}x${frame.height} ${frame.isKey ? 'key' : 'delta'} ${frame.data.length} bytes${latency}`,
    );
  }
}
ffplay.kill();
