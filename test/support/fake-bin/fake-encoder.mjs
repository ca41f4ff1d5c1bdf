// Stand-in for rpicam-vid, libcamera-vid, gst-launch-1.0 and ffmpeg in the
// source tests: records its argv, then writes a real H.264 stream to stdout
// one frame per write (as `rpicam-vid --flush` does). Plain JavaScript so it
// runs without a build. Controlled by environment variables:
//   FAKE_ENCODER_LOG        file to append {tool, args, pid, childPid} to (JSON lines)
//   FAKE_ENCODER_STREAM     Annex-B file to play (default: the bundled sample clip)
//   FAKE_ENCODER_FRAMES     frames to write (default: the whole file once)
//   FAKE_ENCODER_FPS        frames per second (default 0: all at once)
//   FAKE_ENCODER_AFTER      'exit' (default) or 'hang' (stay alive, silent) after writing
//   FAKE_ENCODER_EXIT_CODE  exit status (default 0)
//   FAKE_ENCODER_CHILD      '1': start a helper process in the same process group
//   FAKE_ENCODER_IGNORE_TERM '1': ignore SIGTERM (only SIGKILL stops it)
//   FAKE_ENCODER_RECORDING_STREAM  Annex-B file written to fd 3, frame for frame beside stdout, when the
//                           arguments name a second output there (`pipe:3`, `fd=3`); default the 720p sample clip
import { spawn } from 'node:child_process';
import { appendFileSync, createWriteStream, readFileSync } from 'node:fs';

const [tool = 'fake', ...args] = process.argv.slice(2);
const env = process.env;

if (env.FAKE_ENCODER_IGNORE_TERM === '1')
  process.on('SIGTERM', () => process.stderr.write(`fake ${tool}: ignoring SIGTERM\n`));

let childPid;
if (env.FAKE_ENCODER_CHILD === '1') {
  const child = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], {
    stdio: 'ignore',
  });
  child.unref(); // the helper must not keep the fake itself alive
  childPid = child.pid;
}
if (env.FAKE_ENCODER_LOG)
  appendFileSync(env.FAKE_ENCODER_LOG, `${JSON.stringify({ tool, args, pid: process.pid, childPid })}\n`);
process.stderr.write(`fake ${tool}: started\n`);

const streamPath = env.FAKE_ENCODER_STREAM || new URL('../../../assets/sample-640x360.h264', import.meta.url);
const bytes = readFileSync(streamPath);
const frames = splitFrames(bytes);
const total = env.FAKE_ENCODER_FRAMES ? Number(env.FAKE_ENCODER_FRAMES) : frames.length;
const fps = Number(env.FAKE_ENCODER_FPS || 0);

/** Splits Annex-B bytes into pictures: non-VCL NAL units go with the picture that follows. */
function splitFrames(buf) {
  const starts = [];
  for (let i = buf.indexOf(1, 2); i >= 0; i = buf.indexOf(1, i + 1)) {
    if (buf[i - 1] === 0 && buf[i - 2] === 0) starts.push(buf[i - 3] === 0 && i >= 3 ? i - 3 : i - 2);
  }
  const out = [];
  let frameStart = starts[0] ?? 0;
  let sawVcl = false;
  for (const s of starts) {
    const headerAt = buf.indexOf(1, s) + 1;
    const type = buf[headerAt] & 0x1f;
    const vcl = type >= 1 && type <= 5;
    const firstMb0 = vcl && (buf[headerAt + 1] & 0x80) !== 0;
    if (sawVcl && (!vcl || firstMb0)) {
      out.push(buf.subarray(frameStart, s));
      frameStart = s;
      sawVcl = false;
    }
    if (vcl) sawVcl = true;
  }
  out.push(buf.subarray(frameStart));
  return out;
}

// A second output on fd 3, as the ffmpeg and gstreamer sources ask for the recording profile.
const recordingOut = args.includes('pipe:3') || args.includes('fd=3') ? createWriteStream('', { fd: 3 }) : undefined;
const recordingFrames = recordingOut
  ? splitFrames(
      readFileSync(
        env.FAKE_ENCODER_RECORDING_STREAM || new URL('../../../assets/sample-1280x720.h264', import.meta.url),
      ),
    )
  : [];
recordingOut?.on('error', () => process.exit(0));

function writeTo(out, frame) {
  return new Promise((resolve) => {
    if (out.write(frame)) resolve();
    else out.once('drain', resolve);
  });
}

async function writeFrame(frame, n) {
  await writeTo(process.stdout, frame);
  if (recordingOut) await writeTo(recordingOut, recordingFrames[n % recordingFrames.length]);
}

process.stdout.on('error', () => process.exit(0));
const startMs = performance.now();
for (let n = 0; n < total; n++) {
  if (fps > 0) {
    const due = startMs + (n * 1000) / fps;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await writeFrame(frames[n % frames.length], n);
}
if (env.FAKE_ENCODER_AFTER === 'hang') {
  setInterval(() => {
    // keeps the process alive, hanging, until it is killed
  }, 1000);
} else {
  process.stderr.write(`fake ${tool}: done after ${total} frames\n`);
  process.exitCode = Number(env.FAKE_ENCODER_EXIT_CODE || 0);
}
