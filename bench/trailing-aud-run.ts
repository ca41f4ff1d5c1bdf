/**
 * The trailing-AUD measurement shared by test/outputs/tcp-aud-effect.test.ts
 * (FFmpeg's demuxer: an ordering check) and bench/trailing-aud-bench.ts
 * (FFmpeg's decoder, whose own output delay settles at 0 or 1 frame and so
 * is measured, not asserted).
 *
 * Frames of the sample are published one at a time. After publishing frame
 * k it waits (positive condition, with a deadline) until the peer has put out
 * frame k - lag, then records which frame it put out last. Frames sent while
 * FFmpeg probes are a warm-up.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { StreamHub, TRAILING_AUD } from '../src/hub/stream-hub.js';
import { TcpStreamServer } from '../src/outputs/tcp-stream-server.js';
import { accessUnitsOfFile, samplePath } from '../test/hub/access-units.js';
import { requireTool } from '../test/support/tools.js';
import { waitFor } from '../test/support/wait.js';

const sample = accessUnitsOfFile(samplePath);

const LOW_DELAY_INPUT = ['-fflags', 'nobuffer', '-probesize', '32', '-analyzeduration', '0', '-f', 'h264'];
/** The FFmpeg program reading tcp://: its demuxer alone (ffprobe) or its decoder (ffmpeg). */
export type Peer = 'ffprobe' | 'ffmpeg';

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
export function referenceMd5s(): string[] {
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
 * the latest frame it put out. With `pacedMs`, publishes a frame every
 * `pacedMs` instead (no waiting) and returns each output's delay after its
 * own frame was sent (`latest` empty). Frames are identified by stream position
 * (ffprobe packets) or by md5 (ffmpeg decoded frames), so FFmpeg dropping or
 * buffering frames while it probes does not matter.
 */
export async function runTrailingAud(
  peer: Peer,
  trailingAud: boolean,
  lag: number,
  frames: number,
  refMd5: string[],
  pacedMs?: number,
): Promise<{ latest: number[]; delaysMs: number[] }> {
  const hub = new StreamHub({ trailingAud });
  const server = new TcpStreamServer({ hub, host: '127.0.0.1', port: 0, join: 'next-keyframe' });
  const { port } = await server.start();

  const [cmd, args] = peerArgs(peer, `tcp://127.0.0.1:${port}`);
  const child = spawn(cmd, args);
  try {
    return await measure();
  } finally {
    child.kill('SIGKILL');
    await server.close();
    await hub.close();
  }

  async function measure(): Promise<{ latest: number[]; delaysMs: number[] }> {
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
    if (pacedMs !== undefined) {
      // Paced: frames at the camera's rate, no waiting; each output's delay after its own frame was sent.
      const first = k;
      for (; k < frames; k++) {
        publish(k);
        await new Promise((r) => setTimeout(r, pacedMs));
      }
      // FFmpeg's decoder sometimes holds its output after the probe for good; such a run is
      // returned with what came out (the bench reports it as stalled), not thrown.
      await waitFor(() => out.some((o) => o.frame >= frames - 1 - lag), 'the last frames', 3_000).catch(
        () => undefined,
      );
      return {
        latest,
        delaysMs: out
          .filter((o) => o.frame >= first && sentAt[o.frame] !== undefined)
          .map((o) => o.atMs - sentAt[o.frame]!),
      };
    }
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
}

/** The middle value (the upper one of an even count). */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}
