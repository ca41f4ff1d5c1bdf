/**
 * The trailing-AUD effect (docs/protocol.md, "Closing frames at once"):
 * FFmpeg's raw H.264 demuxer closes a frame only when the next one starts.
 * With the hub's trailing access unit delimiter, FFmpeg reading tcp:// hands
 * out each frame as soon as it arrives; without it, one frame late.
 *
 * Method: frames are published one at a time. After publishing frame k we
 * wait (positive condition, with a deadline) until the peer has put out what
 * it can, then record which frame it put out last. The assertions are about
 * order, not time. Frames sent while FFmpeg probes are a warm-up:
 * - ffprobe -show_packets (FFmpeg's demuxer and parser): with the AUD,
 *   packet k is out before frame k+1 is sent; without it, only packet k-1.
 * - ffmpeg decoding to framemd5 (-flags low_delay, one thread): the decoder
 *   adds one frame of its own once settled, so with the AUD frame k-1 is out,
 *   without it only frame k-2 (the median over the run differs by one frame).
 * The publish-to-output delay is printed as a diagnostic.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { StreamHub, TRAILING_AUD } from '../../src/hub/stream-hub.js';
import { TcpStreamServer } from '../../src/outputs/tcp-stream-server.js';
import { requireTool } from '../support/tools.js';
import { accessUnitsOfFile, samplePath } from '../hub/access-units.js';
import { waitFor } from '../support/wait.js';

const sample = accessUnitsOfFile(samplePath);
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const LOW_DELAY_INPUT = ['-fflags', 'nobuffer', '-probesize', '32', '-analyzeduration', '0', '-f', 'h264'];
const refMd5 = referenceMd5s();

type Peer = 'ffprobe' | 'ffmpeg';

function peerArgs(peer: Peer, url: string): [string, string[]] {
  if (peer === 'ffprobe') {
    return [
      requireTool('ffprobe'),
      ['-v', 'error', ...LOW_DELAY_INPUT, '-show_entries', 'packet=pos', '-of', 'csv=p=0', url],
    ];
  }
  // No nobuffer here: the probed IDR must be decoded, or no frame decodes correctly until the next IDR.
  return [
    requireTool('ffmpeg'),
    [
      '-hide_banner',
      '-v',
      'error',
      '-nostdin',
      '-flags',
      'low_delay',
      '-threads',
      '1',
      '-probesize',
      '32',
      '-analyzeduration',
      '0',
      '-f',
      'h264',
      '-i',
      url,
      '-fps_mode',
      'passthrough',
      '-f',
      'framemd5',
      '-flush_packets',
      '1',
      '-',
    ],
  ];
}

/** md5 of every decoded frame of the sample, in order (the same decoder and flags as the peer). */
function referenceMd5s(): string[] {
  const out = execFileSync(
    requireTool('ffmpeg'),
    [
      '-v',
      'error',
      '-flags',
      'low_delay',
      '-threads',
      '1',
      '-f',
      'h264',
      '-i',
      samplePath,
      '-fps_mode',
      'passthrough',
      '-f',
      'framemd5',
      '-',
    ],
    { maxBuffer: 1 << 24 },
  );
  return out
    .toString()
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(',')[5]!.trim());
}

/**
 * Plays the sample one frame at a time; after publishing frame k waits until
 * the peer has put out the item for frame k - lag, then records the index of
 * the latest frame it put out. Frames are identified by stream position
 * (ffprobe packets) or by md5 (ffmpeg decoded frames), so FFmpeg dropping or
 * buffering frames while it probes does not matter.
 */
async function run(
  peer: Peer,
  trailingAud: boolean,
  lag: number,
  frames: number,
  refMd5: string[],
): Promise<{ latest: number[]; delaysMs: number[] }> {
  const hub = new StreamHub({ trailingAud });
  const server = new TcpStreamServer({ hub, host: '127.0.0.1', port: 0, join: 'next-keyframe' });
  const { port } = await server.start();
  cleanups.push(
    () => server.close(),
    () => hub.close(),
  );
  const [cmd, args] = peerArgs(peer, `tcp://127.0.0.1:${port}`);
  const child = spawn(cmd, args);
  cleanups.push(() => child.kill('SIGKILL'));
  // Stream offsets of each published frame, to identify ffprobe's packets (pos).
  const frameAtPos = new Map<number, number>();
  let pos = 0;
  const out: { frame: number; atMs: number }[] = [];
  let partial = '';
  child.stdout.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      if (!l || l.startsWith('#')) continue;
      const frame =
        peer === 'ffprobe' ? (frameAtPos.get(Number(l.trim())) ?? -1) : refMd5.indexOf(l.split(',')[5]?.trim() ?? '');
      out.push({ frame, atMs: performance.now() });
    }
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  await waitFor(() => server.clientCount === 1, `${peer} connected`);
  const sentAt: number[] = [];
  const publish = (k: number): void => {
    frameAtPos.set(pos, k);
    if (trailingAud) frameAtPos.set(pos - TRAILING_AUD.length, k); // FFmpeg counts our trailing AUD as the start of the next packet
    sentAt[k] = performance.now();
    hub.accessUnit(sample[k]!, Date.now());
    // The served bytes of frame k, SEI-free: its length is what the hub counted.
    pos = hub.stats().bytes;
  };
  // Warm-up: FFmpeg probes first; feed at 30 fps until it puts out frames steadily (its first
  // frames after the probe may come out late or be held once; only the steady state is measured).
  let k = 0;
  const deadline = Date.now() + 15_000;
  while (out.length < 3) {
    if (Date.now() > deadline || k >= frames) assert.fail(`${peer} put out nothing (${stderr})`);
    publish(k++);
    await new Promise((r) => setTimeout(r, 33));
  }
  const latest: number[] = [];
  for (; k < frames; k++) {
    publish(k);
    const want = k - lag;
    await waitFor(
      () => out.some((o) => o.frame >= want),
      `${peer} to put out frame ${want} (${stderr}; out: ${out.slice(-5).map((o) => o.frame)})`,
      15_000,
    );
    latest.push(Math.max(...out.map((o) => o.frame)) - k);
  }
  const errorsWhileRunning = stderr;
  child.kill('SIGKILL');
  await server.close();
  await hub.close();
  assert.equal(errorsWhileRunning.trim(), '', `${peer} reported errors`);
  assert.ok(
    out.every((o) => o.frame >= 0),
    `${peer}: every output identified`,
  );
  const delaysMs = out
    .filter((o) => sentAt[o.frame + lag] !== undefined && o.frame + lag >= k - latest.length)
    .map((o) => o.atMs - sentAt[o.frame + lag]!);
  return { latest, delaysMs };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

describe('trailing AUD', () => {
  const n = 60;

  it("lets FFmpeg's demuxer (ffprobe reading tcp://) hand out each frame before the next is sent", async (t) => {
    const on = await run('ffprobe', true, 0, n, refMd5);
    assert.ok(
      on.latest.every((d) => d === 0),
      `with the AUD the latest packet out is the frame just sent: ${on.latest}`,
    );
    const off = await run('ffprobe', false, 1, n, refMd5);
    assert.ok(
      off.latest.every((d) => d === -1),
      `without it, the one before: ${off.latest}`,
    );
    t.diagnostic(
      `ffprobe: frame sent -> its packet out, median ${median(on.delaysMs).toFixed(2)} ms with the AUD; without it the packet leaves only when the next frame is sent`,
    );
  });

  it('makes ffmpeg decoding tcp:// put out each frame one frame interval earlier', async (t) => {
    // The decoder adds a frame of delay of its own once it has settled (0 or 1 frame while starting).
    const on = await run('ffmpeg', true, 1, n, refMd5);
    const off = await run('ffmpeg', false, 2, n, refMd5);
    assert.ok(
      off.latest.every((d) => d <= -1),
      `without the AUD the frame just sent is never out: ${off.latest}`,
    );
    assert.equal(
      median(on.latest) - median(off.latest),
      1,
      `with it frames come out one frame earlier: on ${on.latest} / off ${off.latest}`,
    );
    t.diagnostic(
      `ffmpeg framemd5: with the AUD frame k is out ${median(on.delaysMs).toFixed(2)} ms (median) after frame k+1 is sent; without it only after frame k+2`,
    );
  });
});
