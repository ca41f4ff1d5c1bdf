/**
 * Fan-out benchmark (issue 3 section 5): an 8 Mbps 720p30 H.264 stream served
 * to 1, 10 and 50 loopback clients by `rearview serve`'s TCP output and, in
 * the same run, by GStreamer's tcpserversink (the pipeline of the platform
 * notes), reporting ratios.
 *
 * Figures per server and client count: server CPU seconds per GB delivered
 * (from /proc, user+system), peak RSS (VmHWM), server-added latency p50/p99
 * (ours: hub delivery -> socket write, from the server's own stats; GStreamer
 * cannot report it), and the first-frame time of a client joining mid-stream
 * (connect -> a complete keyframe received). Then an RSS-flat check with one
 * stalled client (connects, never reads) beside a reading one.
 *
 * Usage: node dist/bench/fanout-bench.js [--seconds 15] [--clients 1,10,50]
 *        [--stall-seconds 30] (use --stall-seconds 300 for the 5-minute check)
 *        [--warmup-seconds 20] [--source file|tcp] [--servers rearview,gstreamer] [--profile DIR] (writes a V8 CPU
 *        profile of each of our server processes into DIR, for DevTools) [--young-growth] (our server
 *        without the daemon's young-generation cap, src/util/young-generation.ts)
 *
 * Fairness: both servers play the same file at its own rate for the same
 * measured time; the "delivered" column is the bytes the clients received
 * as a percentage of clients x seconds x the file's byte rate, so a server
 * that falls behind or drops clients shows it (CPU per GB is per byte
 * actually delivered). Each server runs --warmup-seconds with its clients
 * connected before the measured window: our daemon is JIT-compiled and its
 * per-frame code runs only 30 times a second, so V8 needs some 20-40 s to
 * reach optimised code; the first seconds cost about twice the steady
 * state, which a camera running for hours never sees (use
 * --warmup-seconds 1.5 to see the cold figure).
 *
 * Scope of "server CPU": with --source file (default) our file source
 * parses the file once at start, so the measured window holds pacing and
 * fan-out only, while GStreamer's process also reads and parses
 * (h264parse) all the time. --source tcp gives both the same scope: a
 * separate GStreamer "camera" process (not measured) serves the paced
 * file on TCP, and each server reads it from the socket, parses it and
 * fans it out (ours: source tcp://; GStreamer: tcpclientsrc ! h264parse).
 * The input is generated once with ffmpeg into the OS temp dir.
 *
 * Internally the bench forks itself with `--server-child FILE` to run our
 * daemon in its own process, so server CPU and memory are measured apart
 * from the clients.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
function arg(name: string, fallback: string): string {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? (argv[i + 1] as string) : fallback;
}

const FFMPEG = '/usr/bin/ffmpeg';
const GST = '/usr/bin/gst-launch-1.0';
const INPUT_SECONDS = 5;
const sourceMode = arg('--source', 'file');
const warmupMs = Number(arg('--warmup-seconds', '20')) * 1000;
const profileDir = argv.includes('--profile') ? arg('--profile', '') : undefined;

/**
 * 5 s of 1280x720 30 fps at 8 Mbps (5 MB), SPS/PPS before every IDR, one IDR
 * per second, no B-frames; both servers loop it. Short on purpose: our file
 * source keeps the whole file in memory, a camera source holds nothing.
 */
function makeInput(): string {
  const path = join(tmpdir(), 'rearview-bench-720p-8M-5s.h264');
  if (existsSync(path)) return path;
  process.stderr.write(`generating ${path} with ffmpeg...\n`);
  execFileSync(FFMPEG, [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=1280x720:rate=30',
    '-t',
    '5',
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-tune',
    'zerolatency',
    '-profile:v',
    'high',
    '-bf',
    '0',
    '-b:v',
    '8M',
    '-maxrate',
    '8M',
    '-bufsize',
    '8M',
    '-g',
    '30',
    '-keyint_min',
    '30',
    '-sc_threshold',
    '0',
    '-x264-params',
    'repeat-headers=1',
    '-bsf:v',
    'h264_mp4toannexb',
    '-f',
    'h264',
    path,
  ]);
  return path;
}

/** CPU seconds (user+system) and memory of a process, from /proc. */
function procStats(pid: number): { cpuS: number; rssKb: number; hwmKb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { cpuS: ticks / 100, rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A reading client counting bytes. */
class CountingClient {
  bytes = 0;
  readonly socket: Socket;
  constructor(port: number) {
    this.socket = connect({ port, host: '127.0.0.1' });
    this.socket.on('data', (d: Buffer) => (this.bytes += d.length));
    this.socket.on('error', () => {
      // a reset at teardown is expected; the byte count is the measurement
    });
  }
  close(): void {
    this.socket.destroy();
  }
}

/** Connects and resolves with ms until a complete keyframe arrived (an IDR followed by the next start code). */
function firstFrameMs(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = connect({ port, host: '127.0.0.1' });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no keyframe within 10 s'));
    }, 10_000);
    socket.on('error', reject);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      // Find an IDR NAL (type 5) and any start code after it.
      for (
        let i = buf.indexOf(Buffer.of(0, 0, 1));
        i >= 0 && i + 3 < buf.length;
        i = buf.indexOf(Buffer.of(0, 0, 1), i + 3)
      ) {
        if (((buf[i + 3] as number) & 0x1f) === 5 && buf.indexOf(Buffer.of(0, 0, 1), i + 4) > 0) {
          clearTimeout(timer);
          socket.destroy();
          resolve(performance.now() - t0);
          return;
        }
      }
    });
  });
}

interface ServerHandle {
  name: string;
  pid: number;
  port: number;
  latency(): Promise<{ p50Ms: number; p99Ms: number; count: number; heapMb: number; externalMb: number } | undefined>;
  close(): Promise<void>;
}

/** Our daemon in a child process (this script with --server-child). */
async function startOurs(input: string): Promise<ServerHandle> {
  const execArgv = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const childArgs = ['--server-child', await sourceSpec(input)].concat(
    argv.includes('--young-growth') ? ['--young-growth'] : [],
  );
  const child = fork(fileURLToPath(import.meta.url), childArgs, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv,
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port?: number }) => (m.port ? resolve(m.port) : reject(new Error('no port'))));
    child.once('exit', () => reject(new Error('server child exited')));
  });
  return {
    name: 'rearview',
    pid: child.pid as number,
    port,
    latency: () =>
      new Promise((resolve) => {
        child.once(
          'message',
          (m: { latency?: { p50Ms: number; p99Ms: number; count: number; heapMb: number; externalMb: number } }) =>
            resolve(m.latency),
        );
        child.send('latency');
      }),
    close: () => stopChild(child),
  };
}

/** GStreamer tcpserversink (the platform notes' pipeline), looping the file like our file source, paced at the frame rate (sync=true). */
async function startGst(input: string): Promise<ServerHandle> {
  const port = await freePort();
  const spec = await sourceSpec(input);
  // tcp: the feed is already paced by the camera process, so no clock sync here.
  const src = spec.startsWith('tcp://')
    ? ['tcpclientsrc', 'host=127.0.0.1', `port=${new URL(spec).port}`]
    : ['multifilesrc', `location=${input}`, 'loop=true'];
  const child = spawn(
    GST,
    [
      '-q',
      ...src,
      '!',
      'h264parse',
      'config-interval=-1',
      '!',
      'video/x-h264,stream-format=byte-stream,alignment=au',
      '!',
      'tcpserversink',
      'host=127.0.0.1',
      `port=${port}`,
      'sync-method=latest-keyframe',
      `sync=${spec.startsWith('tcp://') ? 'false' : 'true'}`,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await waitListening(port);
  return {
    name: 'gstreamer',
    pid: child.pid as number,
    port,
    latency: async () => undefined,
    close: () => stopChild(child),
  };
}

/** Camera processes started for --source tcp, stopped after each run. */
const cameras: ChildProcess[] = [];

/** What a server under test reads: the file itself, or (--source tcp) a fresh paced "camera" on TCP serving it. */
async function sourceSpec(input: string): Promise<string> {
  if (sourceMode !== 'tcp') return input;
  const port = await freePort();
  const camera = spawn(
    GST,
    [
      '-q',
      'multifilesrc',
      `location=${input}`,
      'loop=true',
      '!',
      'h264parse',
      'config-interval=-1',
      '!',
      'video/x-h264,stream-format=byte-stream,alignment=au',
      '!',
      'tcpserversink',
      'host=127.0.0.1',
      `port=${port}`,
      'sync-method=latest-keyframe',
      'sync=true',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  cameras.push(camera);
  await waitListening(port);
  return `tcp://127.0.0.1:${port}`;
}

async function waitListening(port: number): Promise<void> {
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ port, host: '127.0.0.1' }, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (i > 200) throw new Error(`nothing listening on port ${port}`);
    await sleep(25);
  }
}

async function stopCameras(): Promise<void> {
  await Promise.all(cameras.splice(0).map(stopChild));
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}

interface RunResult {
  server: string;
  clients: number;
  gb: number;
  /** Bytes received / (clients x seconds x the input's byte rate), percent. */
  deliveredPct: number;
  cpuSPerGb: number;
  peakRssMb: number;
  latency: { p50Ms: number; p99Ms: number; count: number; heapMb: number; externalMb: number } | undefined;
  firstFrameMs: number;
}

async function fanout(
  start: (input: string) => Promise<ServerHandle>,
  input: string,
  clients: number,
  seconds: number,
): Promise<RunResult> {
  const server = await start(input);
  try {
    const list = Array.from({ length: clients }, () => new CountingClient(server.port));
    await sleep(warmupMs); // clients joined, caches filled, hot code optimised (see the file comment)
    const cpu0 = procStats(server.pid).cpuS;
    const bytes0 = list.reduce((s, c) => s + c.bytes, 0);
    await sleep(seconds * 1000);
    const cpu1 = procStats(server.pid).cpuS;
    const bytes1 = list.reduce((s, c) => s + c.bytes, 0);
    const latency = await server.latency();
    const ff = await firstFrameMs(server.port);
    const mem = procStats(server.pid);
    for (const c of list) c.close();
    const gb = (bytes1 - bytes0) / 1e9;
    const expectedBytes = (clients * seconds * statSync(input).size) / INPUT_SECONDS;
    return {
      server: server.name,
      clients,
      gb,
      deliveredPct: ((bytes1 - bytes0) / expectedBytes) * 100,
      cpuSPerGb: (cpu1 - cpu0) / gb,
      peakRssMb: mem.hwmKb / 1024,
      latency,
      firstFrameMs: ff,
    };
  } finally {
    await server.close();
    await stopCameras();
  }
}

async function stallCheck(
  start: (input: string) => Promise<ServerHandle>,
  input: string,
  seconds: number,
): Promise<{ server: string; rssMb: number[] }> {
  const server = await start(input);
  try {
    const reader = new CountingClient(server.port);
    const stalled = connect({ port: server.port, host: '127.0.0.1' });
    stalled.on('error', () => {
      // the server may drop the stalled client: that is what is measured
    });
    stalled.pause();
    const rssMb: number[] = [];
    const step = Math.max(1, Math.round(seconds / 10));
    for (let t = 0; t <= seconds; t += step) {
      rssMb.push(Math.round(procStats(server.pid).rssKb / 102.4) / 10);
      if (t < seconds) await sleep(step * 1000);
    }
    reader.close();
    stalled.destroy();
    return { server: server.name, rssMb };
  } finally {
    await server.close();
    await stopCameras();
  }
}

async function serverChild(input: string): Promise<void> {
  // As `rearview serve` does first (src/cli/main.ts), unless --young-growth is given (to measure its cost).
  if (!argv.includes('--young-growth')) (await import('../src/util/young-generation.js')).keepYoungGenerationSmall();
  const { loadConfig } = await import('../src/config.js');
  const { RearviewDaemon } = await import('../src/daemon.js');
  const config = loadConfig({
    overrides: {
      source: input.startsWith('tcp://') ? input : `file:${input}`,
      bind: '127.0.0.1',
      streamPort: 0,
      apiPort: 0,
      record: false,
      mdns: false,
      maxClients: 100,
    },
  });
  const daemon = new RearviewDaemon(config);
  await daemon.start();
  process.on('message', (m) => {
    if (m !== 'latency') return;
    const mem = process.memoryUsage();
    process.send?.({
      latency: {
        ...daemon.tcpServer.stats().serverLatency,
        heapMb: mem.heapUsed / 1e6,
        externalMb: mem.external / 1e6,
      },
    });
  });
  process.on('SIGTERM', () => void daemon.close().then(() => process.exit(0)));
  process.send?.({ port: daemon.streamAddress?.port });
}

async function main(): Promise<void> {
  if (argv[0] === '--server-child') return serverChild(argv[1] as string);
  const seconds = Number(arg('--seconds', '15'));
  const clientCounts = arg('--clients', '1,10,50').split(',').map(Number);
  const stallSeconds = Number(arg('--stall-seconds', '30'));
  const input = makeInput();
  const servers = arg('--servers', 'rearview,gstreamer').split(',');
  const starts = [
    ...(servers.includes('rearview') ? [startOurs] : []),
    ...(servers.includes('gstreamer') ? [startGst] : []),
  ];
  const results: RunResult[] = [];
  for (const n of clientCounts) {
    for (const start of starts) {
      const r = await fanout(start, input, n, seconds);
      results.push(r);
      process.stderr.write(
        `${r.server} x${n}: ${r.gb.toFixed(3)} GB (${r.deliveredPct.toFixed(0)} %), ${r.cpuSPerGb.toFixed(2)} CPU s/GB\n`,
      );
    }
  }
  const fmt = (v: number | undefined, d = 2): string => (v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(d));
  console.log(
    `fan-out of ${input} (720p30, 8 Mbps, looped; source ${sourceMode}), ${warmupMs / 1000} s warm-up then ${seconds} s measured per run, loopback, node ${process.version}`,
  );
  console.log(
    'server     clients  GB     delivered  CPU s/GB  peak RSS MB  added p50 ms  added p99 ms  first frame ms  heap/external MB',
  );
  for (const r of results) {
    console.log(
      `${r.server.padEnd(10)} ${String(r.clients).padStart(7)}  ${r.gb.toFixed(3)}  ${`${r.deliveredPct.toFixed(0)} %`.padStart(9)}  ${fmt(r.cpuSPerGb).padStart(8)}  ${fmt(r.peakRssMb, 1).padStart(11)}  ${fmt(r.latency?.p50Ms, 3).padStart(12)}  ${fmt(r.latency?.p99Ms, 3).padStart(12)}  ${fmt(r.firstFrameMs, 1).padStart(14)}  ${r.latency ? `${r.latency.heapMb.toFixed(0)}/${r.latency.externalMb.toFixed(0)}` : 'n/a'}`,
    );
  }
  console.log('ratios rearview / gstreamer (lower is better):');
  for (const n of clientCounts) {
    const ours = results.find((r) => r.server === 'rearview' && r.clients === n);
    const gst = results.find((r) => r.server === 'gstreamer' && r.clients === n);
    if (!ours || !gst) continue;
    console.log(
      `  ${n} clients: CPU/GB ${fmt(ours.cpuSPerGb / gst.cpuSPerGb)}, peak RSS ${fmt(ours.peakRssMb / gst.peakRssMb)}, first frame ${fmt(ours.firstFrameMs / gst.firstFrameMs)}`,
    );
  }
  if (stallSeconds > 0) {
    console.log(`RSS (MB) over ${stallSeconds} s with one stalled client and one reading client:`);
    for (const start of starts) {
      const s = await stallCheck(start, input, stallSeconds);
      console.log(
        `  ${s.server.padEnd(10)} ${s.rssMb.join(' ')}  (first ${s.rssMb[0]}, last ${s.rssMb[s.rssMb.length - 1]}, max ${Math.max(...s.rssMb)})`,
      );
    }
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`fanout-bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
