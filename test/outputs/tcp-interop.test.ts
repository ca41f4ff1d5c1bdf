/**
 * Real clients nobody here wrote, against the daemon's TCP output: ffmpeg,
 * OpenCV (the tutorial's cv2.VideoCapture), GStreamer; several clients
 * joining at different moments beside a stalled one; and a stream whose
 * SPS/PPS appear only once. Peers are required, never skipped.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { splitAnnexB } from '../../src/h264/annexb-scanner.js';
import { startDaemonInProcess, startServe } from '../support/daemon.js';
import { cliPath, scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { RawClient } from './tcp-feed.js';
import { waitFor } from '../support/wait.js';

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Runs a command to completion; resolves with exit code, stdout and stderr. */
function run(
  cmd: string,
  args: string[],
  timeoutMs = 30_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
    cleanups.push(() => child.kill('SIGKILL'));
  });
}

/** ffmpeg decoding `frames` frames from tcp://; zero errors means empty stderr at -v error. */
function ffmpegDecode(port: number, frames: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run(requireTool('ffmpeg'), [
    // Small probe so the test does not wait seconds of live stream; the probed packets are still decoded.
    '-hide_banner',
    '-nostdin',
    '-v',
    'error',
    '-probesize',
    '32',
    '-analyzeduration',
    '0',
    '-f',
    'h264',
    '-i',
    `tcp://127.0.0.1:${port}`,
    '-frames:v',
    String(frames),
    '-f',
    'framemd5',
    '-',
  ]);
}

function decodedFrames(framemd5: string): number {
  return framemd5.split('\n').filter((l) => l && !l.startsWith('#')).length;
}

describe('TCP output with real clients', () => {
  it('rearview serve: ffmpeg reading tcp:// decodes 60 frames with zero errors', async () => {
    const serve = await startServe(['--bind', '127.0.0.1']);
    cleanups.push(() => serve.close());
    const r = await ffmpegDecode(serve.streamPort, 60);
    assert.equal(r.stderr.trim(), '');
    assert.equal(r.code, 0);
    assert.equal(decodedFrames(r.stdout), 60);
    assert.equal(await serve.close(), 0, 'SIGTERM stops serve with exit code 0');
  });

  it("OpenCV cv2.VideoCapture('tcp://...') reads frames of the right size (the tutorial's demo without the window)", async () => {
    const d = await startDaemonInProcess();
    cleanups.push(() => d.close());
    const script = [
      'import cv2, sys',
      `cap = cv2.VideoCapture('tcp://127.0.0.1:${d.streamPort}')`,
      "assert cap.isOpened(), 'Could not open video stream'",
      'for i in range(30):',
      '    ret, frame = cap.read()',
      "    assert ret, 'Could not read frame %d' % i",
      '    print(frame.shape[1], frame.shape[0])',
      'cap.release()',
    ].join('\n');
    const r = await run(requireTool('python3'), ['-c', script]);
    assert.equal(r.code, 0, r.stderr);
    const sizes = r.stdout.trim().split('\n');
    assert.equal(sizes.length, 30);
    assert.ok(
      sizes.every((s) => s === '640 360'),
      sizes.join(','),
    );
  });

  it('GStreamer tcpclientsrc ! h264parse ! avdec_h264 decodes', async () => {
    const d = await startDaemonInProcess();
    cleanups.push(() => d.close());
    const r = await run(requireTool('gstLaunch'), [
      '-q',
      'tcpclientsrc',
      'host=127.0.0.1',
      `port=${d.streamPort}`,
      '!',
      'h264parse',
      '!',
      'avdec_h264',
      '!',
      'identity',
      'eos-after=30',
      'silent=false',
      '!',
      'fakesink',
      'sync=false',
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.ok(!/ERROR|WARNING/.test(r.stderr + r.stdout), r.stderr + r.stdout);
  });

  it('several clients joining at different moments each decode from their first frame, beside a stalled client', async () => {
    const d = await startDaemonInProcess({ clientHardLimitMs: '60s' });
    cleanups.push(() => d.close());
    // A client that connects and never reads.
    const stalled = connect({ port: d.streamPort, host: '127.0.0.1' });
    stalled.on('error', () => {
      // the server may drop the stalled client: that is what is tested
    });
    stalled.pause();
    cleanups.push(() => stalled.destroy());
    await waitFor(() => d.daemon.tcpServer.clientCount === 1, 'stalled client connected');
    const results: Promise<{ code: number | null; stdout: string; stderr: string }>[] = [];
    for (let i = 0; i < 3; i++) {
      // Join at different points of the GOP: after 20, 40, 60 more frames.
      const target = d.daemon.hub.stats().frames + 20;
      await waitFor(() => d.daemon.hub.stats().frames >= target, `frame ${target}`);
      results.push(ffmpegDecode(d.streamPort, 45));
    }
    for (const [i, p] of results.entries()) {
      const r = await p;
      assert.equal(r.stderr.trim(), '', `client ${i}: ${r.stderr}`);
      assert.equal(r.code, 0);
      assert.equal(decodedFrames(r.stdout), 45, `client ${i}`);
    }
    const stalledStats = d.daemon.tcpServer
      .stats()
      .clients.find((c) => c.framesSent > 0 && c.remote.endsWith(`:${stalled.localPort}`));
    assert.ok(stalledStats, 'the stalled client is still connected');
  });

  it('owns the parameter sets: every client gets SPS+PPS before its first IDR when the encoder sent them once', async () => {
    const ffmpeg = requireTool('ffmpeg');
    const scratch = scratchDir();
    cleanups.push(scratch.cleanup);
    const file = join(scratch.dir, 'headers-once.h264');
    // libx264 without repeat-headers: SPS/PPS only before the first IDR.
    const made = await run(ffmpeg, [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x240:rate=30',
      '-t',
      '4',
      '-c:v',
      'libx264',
      '-profile:v',
      'baseline',
      '-g',
      '15',
      '-bf',
      '0',
      '-f',
      'h264',
      file,
    ]);
    assert.equal(made.code, 0, made.stderr);
    const d = await startDaemonInProcess({ source: `file:${file}` });
    cleanups.push(() => d.close());
    // Join well after the first IDR, at two different moments.
    for (const skip of [40, 25]) {
      const target = d.daemon.hub.stats().frames + skip;
      await waitFor(() => d.daemon.hub.stats().frames >= target, `frame ${target}`);
      const raw = new RawClient(d.streamPort);
      cleanups.push(() => raw.close());
      const decoded = await ffmpegDecode(d.streamPort, 30);
      assert.equal(decoded.stderr.trim(), '');
      assert.equal(decodedFrames(decoded.stdout), 30);
      await waitFor(() => splitAnnexB(raw.data()).some((n) => n.type === 5), 'an IDR on the raw client');
      const types = splitAnnexB(raw.data()).map((n) => n.type);
      assert.deepEqual(types.slice(0, 2), [7, 8], `first NAL units ${types.slice(0, 6)}`);
      assert.ok(types.indexOf(5) > 1);
      raw.close();
    }
  });

  it('rearview nalu tcp://... lists SPS, PPS, SEI, IDR and the trailing AUD, like the tutorial tool', async () => {
    const d = await startDaemonInProcess();
    cleanups.push(() => d.close());
    const r = await run(process.execPath, [cliPath, 'nalu', `tcp://127.0.0.1:${d.streamPort}`, '--count', '12']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 12);
    assert.match(lines[0]!, /^Found NALU, Type: Sequence parameter set, Length: \d+ bytes$/);
    assert.match(lines[1]!, /Picture parameter set/);
    assert.match(lines[2]!, /Supplemental enhancement information/);
    assert.ok(lines.some((l) => l.includes('Coded slice of an IDR picture')));
    assert.ok(lines.some((l) => l === 'Found NALU, Type: Access unit delimiter, Length: 6 bytes'));
  });

  it('rearview serve exits 2 with one line on a bad option', async () => {
    for (const args of [
      ['--join', 'sideways'],
      ['--stream-port', '70000'],
      ['--segment', 'soon'],
    ]) {
      const child = spawn(process.execPath, [cliPath, 'serve', ...args]);
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const code = await new Promise((r) => child.on('exit', r));
      assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
    }
  });
});
