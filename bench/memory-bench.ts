/**
 * Memory of the camera daemon, scenario A: `rearview serve` recording a
 * 720p30 8 Mbit/s stream with 3 live TCP clients on the stream port, then
 * 10 MP4 downloads of finished 60 s segments asked for at once
 * (`GET /download-video?PATH`, retried while the daemon answers 429).
 *
 * Measured as the whole process tree: the summed VmRSS of the daemon and all
 * its descendants (MP4 converters, thumbnail decoders), read from /proc
 * every 100 ms. The "camera" is an ffmpeg process replaying the stream in
 * real time (`-re -stream_loop -1 -c copy`) into the daemon's standard
 * input: it is the bench's child, not the daemon's, so it is not counted.
 * The peer, in the same run and fed the same bytes: GStreamer's
 * `fdsrc ! h264parse ! tcpserversink` with 3 clients of its own.
 *
 * Reported: the daemon's RSS and the tree's peak while streaming and
 * recording with no download (steady phase), the tree's peak during and
 * after the downloads, the daemon's event-loop delay p99 during the
 * downloads (from the `rearview_event_loop_delay_seconds` histogram of
 * /metrics, scraped before and after), the longest gap between reads of
 * the live clients, and GStreamer's RSS.
 *
 * Usage: node dist/bench/memory-bench.js [--steady-seconds 70] [--downloads 10]
 *        [--node-flags "--max-semi-space-size=1 ..."] (V8 flags of the daemon)
 *        [--no-unit-env] (without deploy/rearview.service's malloc settings, which the daemon
 *        runs with otherwise, as on the camera)
 * Files go to the OS temp folder (the 60 s segment is recorded once and kept).
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCameraStream, findFfmpeg } from './camera-stream.js';
import { percentile } from './percentile.js';
import { loopDelayBuckets, processTree, rssKb, unitEnvironment, waitForLine, windowQuantile } from './process-tree.js';
import { recordSegment } from './recorded-segment.js';

const argv = process.argv.slice(2);
function arg(name: string, fallback: string): string {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? (argv[i + 1] as string) : fallback;
}
const STEADY_S = Number(arg('--steady-seconds', '70'));
const DOWNLOADS = Number(arg('--downloads', '10'));
const NODE_FLAGS = arg('--node-flags', '')
  .split(' ')
  .filter((f) => f !== '');
const CLIENTS = 3;
const SAMPLE_MS = 100;
const GST = '/usr/bin/gst-launch-1.0';
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Sample {
  t: number;
  daemonKb: number;
  treeKb: number;
  processes: number;
  gstKb: number;
}

/** A live client: counts bytes and the longest gap between reads. */
interface LiveClient {
  bytes: number;
  maxGapMs: number;
  resetGap(): void;
  socket: Socket;
}

function liveClient(port: number): LiveClient {
  const socket = connect(port, '127.0.0.1');
  let last = 0;
  const c: LiveClient = {
    bytes: 0,
    maxGapMs: 0,
    resetGap: () => {
      c.maxGapMs = 0;
      last = performance.now();
    },
    socket,
  };
  socket.on('data', (d: Buffer) => {
    const now = performance.now();
    if (last) c.maxGapMs = Math.max(c.maxGapMs, now - last);
    last = now;
    c.bytes += d.length;
  });
  socket.on('error', () => undefined);
  return c;
}

/** GET until it is not 429; resolves with the body size, the number of 429s, and the status. */
async function download(url: string): Promise<{ bytes: number; retries: number; status: number }> {
  for (let retries = 0; ; retries++) {
    const r = await new Promise<{ status: number; bytes: number }>((resolve, reject) => {
      get(url, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: n }));
        res.on('error', reject);
      }).on('error', reject);
    });
    if (r.status !== 429) return { ...r, retries };
    await sleep(250);
  }
}

const mb = (kb: number): string => (kb / 1024).toFixed(0);

async function main(): Promise<void> {
  const root = join(tmpdir(), 'rearview-memory-bench');
  mkdirSync(root, { recursive: true });
  const stream = ensureCameraStream();
  const segment = await recordSegment(join(root, 'segment-60s'), 60);
  const rec = join(root, 'recordings');
  rmSync(rec, { recursive: true, force: true });
  mkdirSync(rec, { recursive: true });
  // The downloads: finished segments of an earlier ride, each a fresh conversion (no MP4 cache yet).
  const t0 = Math.floor(Date.now() / 1000) - 3600;
  const names: string[] = [];
  for (let i = 1; i <= DOWNLOADS; i++) {
    const name = `log${String(i).padStart(4, '0')}.mkv`;
    copyFileSync(segment, join(rec, name));
    utimesSync(join(rec, name), t0 + i * 60, t0 + i * 60);
    names.push(name);
  }
  console.log(
    `scenario A: 720p30 8 Mbit/s (${stream}), recording 60 s segments, ${CLIENTS} TCP clients, then ${DOWNLOADS} MP4 downloads of ${(statSync(segment).size / 1e6).toFixed(0)} MB segments at once`,
  );
  console.log(`daemon: node ${[...NODE_FLAGS, 'rearview serve --source -'].join(' ')}`);

  const camera = spawn(
    findFfmpeg(),
    ['-v', 'error', '-re', '-stream_loop', '-1', '-f', 'h264', '-framerate', '30', '-i', stream].concat([
      '-c',
      'copy',
      '-f',
      'h264',
      'pipe:1',
    ]),
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const daemon = spawn(
    process.execPath,
    [
      ...NODE_FLAGS,
      cli,
      'serve',
      '--source',
      '-',
      '--stream-port',
      '0',
      '--api-port',
      '0',
      '--bind',
      '127.0.0.1',
      '--recordings',
      rec,
      '--min-free',
      '0',
      '--min-free-percent',
      '0',
      '--no-mdns',
      '--log-level',
      'warn',
    ],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...unitEnvironment() } },
  );
  const gstPort = 20000 + Math.floor(Math.random() * 20000);
  const gst = spawn(
    GST,
    ['-q', 'fdsrc', 'fd=0', '!', 'h264parse', 'config-interval=-1', '!']
      .concat(['video/x-h264,stream-format=byte-stream,alignment=au', '!', 'tcpserversink', 'host=127.0.0.1'])
      .concat([`port=${gstPort}`, 'sync-method=latest-keyframe', 'sync=false']),
    { stdio: ['pipe', 'ignore', 'inherit'] },
  );
  // One camera, both servers: the same bytes at the same time.
  camera.stdout?.on('data', (d: Buffer) => {
    daemon.stdin?.write(d);
    gst.stdin?.write(d);
  });
  daemon.stdin?.on('error', () => undefined);
  gst.stdin?.on('error', () => undefined);

  const samples: Sample[] = [];
  let sampler: NodeJS.Timeout | undefined;
  const clients: LiveClient[] = [];
  try {
    const m = await waitForLine(
      daemon,
      /stream listening on tcp:\/\/[^\s]*:(\d+)\s+api listening on (http:\/\/[^\s]+)/,
    );
    const base = m[2] as string;
    const streamPort = Number(m[1]);
    const pid = daemon.pid as number;
    sampler = setInterval(() => {
      const pids = processTree(pid);
      samples.push({
        t: performance.now(),
        daemonKb: rssKb(pid),
        treeKb: pids.reduce((s, p) => s + rssKb(p), 0),
        processes: pids.length,
        gstKb: rssKb(gst.pid as number),
      });
    }, SAMPLE_MS);
    for (let i = 0; i < CLIENTS; i++) clients.push(liveClient(streamPort));
    await sleep(1000);
    for (let i = 0; i < CLIENTS; i++) clients.push(liveClient(gstPort));

    const phase = (from: number, to = performance.now()): Sample[] => samples.filter((s) => s.t >= from && s.t <= to);
    // Steady: streaming and recording, no download. The first 10 s (start-up, JIT) are left out.
    const steadyFrom = performance.now() + 10_000;
    await sleep(10_000);
    const steadyDelayBefore = await loopDelayBuckets(base);
    await sleep(STEADY_S * 1000);
    const steady = phase(steadyFrom);
    const steadyDelayAfter = await loopDelayBuckets(base);
    const ours = clients.slice(0, CLIENTS);
    const bytesBefore = ours.reduce((s, c) => s + c.bytes, 0);

    const delayBefore = await loopDelayBuckets(base);
    for (const c of ours) c.resetGap();
    const dlFrom = performance.now();
    const results = await Promise.all(
      names.map((n) =>
        download(`${base}/download-video?${join(rec, n)}`).catch(() => ({ bytes: 0, retries: 0, status: 0 })),
      ),
    );
    const dlTo = performance.now();
    const delayAfter = await loopDelayBuckets(base);
    const gapMs = Math.max(...ours.map((c) => c.maxGapMs));
    const liveMbps =
      ((ours.reduce((s, c) => s + c.bytes, 0) - bytesBefore) * 8) / 1e6 / ((dlTo - dlFrom) / 1000) / CLIENTS;
    const during = phase(dlFrom, dlTo);
    await sleep(10_000);
    const after = phase(dlTo);

    const med = (xs: number[]): number => percentile(xs, 50);
    const max = (xs: number[]): number => Math.max(...xs);
    console.log(`\nsteady (${STEADY_S} s, no download):`);
    console.log(
      `  daemon RSS median ${mb(med(steady.map((s) => s.daemonKb)))} MB, max ${mb(max(steady.map((s) => s.daemonKb)))} MB; tree max ${mb(max(steady.map((s) => s.treeKb)))} MB (up to ${max(steady.map((s) => s.processes))} processes)`,
    );
    const sq = (p: number): string => (windowQuantile(steadyDelayBefore, steadyDelayAfter, p) * 1000).toFixed(1);
    console.log(`  daemon event-loop delay: p50 ${sq(0.5)} ms, p99 ${sq(0.99)} ms (the machine's load shows here too)`);
    console.log(
      `  peer: GStreamer tcpserversink RSS median ${mb(med(steady.map((s) => s.gstKb)))} MB, max ${mb(max(steady.map((s) => s.gstKb)))} MB`,
    );
    const ok = results.filter((r) => r.status === 200 && r.bytes > 0);
    console.log(`\n${DOWNLOADS} MP4 downloads at once:`);
    console.log(
      `  ${ok.length} served (${(ok.reduce((s, r) => s + r.bytes, 0) / 1e6).toFixed(0)} MB) in ${((dlTo - dlFrom) / 1000).toFixed(1)} s, ${results.reduce((s, r) => s + r.retries, 0)} answers 429 retried`,
    );
    console.log(
      `  tree peak ${mb(max(during.concat(after).map((s) => s.treeKb)))} MB (up to ${max(during.map((s) => s.processes))} processes); daemon peak ${mb(max(during.concat(after).map((s) => s.daemonKb)))} MB; 10 s after: tree ${mb(after.at(-1)?.treeKb ?? 0)} MB`,
    );
    const q = (p: number): string => (windowQuantile(delayBefore, delayAfter, p) * 1000).toFixed(1);
    console.log(
      `  daemon event-loop delay during the downloads: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max bucket ${q(1)} ms`,
    );
    console.log(
      `  live TCP clients meanwhile: ${liveMbps.toFixed(2)} Mbit/s each, longest gap between reads ${gapMs.toFixed(0)} ms`,
    );
    console.log(`  peer: GStreamer RSS max ${mb(max(during.map((s) => s.gstKb)))} MB`);
  } finally {
    if (sampler) clearInterval(sampler);
    for (const c of clients) c.socket.destroy();
    camera.kill('SIGTERM');
    gst.kill('SIGTERM');
    daemon.kill('SIGTERM');
    await new Promise((r) => (daemon.exitCode === null ? daemon.once('exit', r) : r(undefined)));
  }
}

await main();
