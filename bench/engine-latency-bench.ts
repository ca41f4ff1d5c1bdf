/**
 * Live view in three browser engines against a real `rearview serve` child
 * (its own process, `--source file:...` played in real time, capture-time
 * SEI on), and the daemon's CPU per viewer, WebRTC against WebSocket.
 *
 * Part 1, latency: for 720p 8 Mbit/s and 640x360 1 Mbit/s (both Constrained
 * Baseline, the camera's default profile: Debian's Chromium refuses High over
 * WebRTC, bench/stream-720p.ts), in each engine
 * (Chromium through playwright-core, Firefox ESR through puppeteer-core over
 * WebDriver BiDi, WebKitGTK's MiniBrowser through WebKitWebDriver under Xvfb:
 * the launchers of the engine tests, test/web/browser-engines.ts) and each
 * path the engine plays (`?path=webcodecs` on 127.0.0.1, a secure context;
 * `webrtc`, `mse`, `mms` on the camera's `.local` name, as a phone meets it):
 *   - capture -> on screen p50/p95/p99 over `--seconds` after the first
 *     1.5 s of a page (the join burst starts on the cached GOP, old by
 *     design): the page's raw samples (browser clock minus capture time; one
 *     clock here). WebCodecs: after drawing the canvas; MSE/MMS: the video
 *     element's presented frames (requestVideoFrameCallback); WebRTC: the
 *     same callback with the RTP timestamp, which is the capture time;
 *   - first picture: navigation start to the first picture shown, over
 *     `--loads` fresh page loads while the stream runs;
 *   - the peer in the same run: FFmpeg decoding the daemon's raw TCP stream
 *     (port 5000's protocol) with its low-latency flags, capture to decoded
 *     frame from its showinfo line (the capture-time SEI).
 * Part 2, CPU: utime+stime of the daemon process (/proc/PID/stat) over
 * `--cpu-seconds` with 0, 1 and 4 WebSocket viewers (Node `ws` clients on
 * /api/v1/live) and 0, 1 and 4 WebRTC viewers (node-datachannel peers making
 * WHEP offers, as test/web/webrtc-live.test.ts does, one process each:
 * whep-viewer.ts), all outside the daemon, so its figure holds only its own work. Baseline measured before
 * and after; the added cost is against their mean.
 *
 * Every figure is printed with the 1-minute load average when it was taken.
 *
 * Run: npm run build && node dist/bench/engine-latency-bench.js
 *   [--seconds 20] [--loads 3] [--cpu-seconds 20] [--only 720p|360p]
 *   [--engines chromium,firefox,webkit] [--no-latency] [--no-cpu]
 * Goals (issue 15): WebRTC p95 < 50 ms at 720p on loopback; first picture
 * < 300 ms; 4 WebRTC viewers add < 10 % of one core to the daemon.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import WebSocket from 'ws';
import type { LivePath } from '../src/web/live-path.js';
import { startServe, type ServeProcess } from '../test/support/daemon.js';
import { requireTool } from '../test/support/tools.js';
import {
  CAMERA_HOST,
  launchChromiumEngine,
  launchFirefoxEngine,
  launchWebKitEngine,
  mapCameraHost,
  type Engine,
  type EnginePage,
} from '../test/web/browser-engines.js';
import { ensureWebBuilt } from '../test/web/web-fixture.js';
import { percentile } from './percentile.js';
import { make720p } from './stream-720p.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

const SECONDS = Number(arg('seconds', '20'));
const LOADS = Number(arg('loads', '3'));
const CPU_SECONDS = Number(arg('cpu-seconds', '20'));
const ONLY = arg('only', '');
const ENGINES = arg('engines', 'chromium,firefox,webkit').split(',');
const LATENCY = !process.argv.includes('--no-latency');
const CPU = !process.argv.includes('--no-cpu');
/** Skipped at the start of a measuring page: the join burst. */
const SETTLE_MS = 1500;

interface Case {
  name: string;
  /** `--source` of the daemon. */
  source: string;
}

const CASES: Case[] = [
  { name: '720p 8 Mbit/s', source: '' }, // made in main()
  { name: '640x360 1 Mbit/s', source: `file:${new URL('../../assets/sample-640x360.h264', import.meta.url).pathname}` },
].filter((c) => ONLY === '' || (ONLY === '720p' ? c.name.startsWith('720p') : c.name.startsWith('640')));

interface EngineSpec {
  key: string;
  launch: () => Promise<Engine>;
  /** Paths it plays (the engine tests' expectations, docs/web.md). */
  paths: LivePath[];
  /** Why a path is missing. */
  missing: string;
}

const ENGINE_SPECS: EngineSpec[] = [
  { key: 'chromium', launch: launchChromiumEngine, paths: ['webcodecs', 'webrtc', 'mse'], missing: 'no MMS' },
  {
    key: 'firefox',
    launch: launchFirefoxEngine,
    paths: ['webcodecs', 'mse'],
    missing: 'no MMS; its WebRTC has no H.264 here (no OpenH264 plugin)',
  },
  {
    key: 'webkit',
    // No init scripts in this bench: the proxy is never asked for.
    launch: () => launchWebKitEngine(() => Promise.reject(new Error('no init script proxy in the bench'))),
    paths: ['webcodecs', 'mse', 'mms'],
    missing: 'no WebRTC in WebKitGTK',
  },
];

interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
}

function summarise(samples: number[]): Summary {
  return {
    n: samples.length,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    p99: percentile(samples, 99),
  };
}

const load = (): string => (loadavg()[0] as number).toFixed(1);
const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(0) : '-');
const sleep = (t: number): Promise<void> => new Promise((r) => setTimeout(r, t));

/** Polls a page expression until truthy; throws after `timeoutMs`. */
async function waitInPage(page: EnginePage, expression: string, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate<boolean>(`!!(${expression})`))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

async function startDaemon(source: string): Promise<ServeProcess> {
  return startServe(
    [
      '--source',
      source,
      '--bind',
      '127.0.0.1',
      // Room for the bench's own viewers (pages closed by the bench may linger until ICE times out).
      '--webrtc-max-viewers',
      '16',
      '--max-clients-per-address',
      '16',
      '--log-level',
      'info',
    ],
    { waitForApi: true },
  );
}

interface PathResult {
  engine: string;
  version: string;
  path: LivePath;
  latency: Summary;
  received: Summary;
  firstPicture: Summary;
  framesShown: number;
  drops: number;
  load: string;
}

/** Latency and first picture of one path in one engine. */
async function runPath(engine: Engine, serve: ServeProcess, path: LivePath): Promise<PathResult> {
  const host = path === 'webcodecs' ? '127.0.0.1' : CAMERA_HOST;
  const url = `http://${host}:${serve.apiPort}/?path=${path}#live`;
  const firsts: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const page = await engine.open(url);
    try {
      await waitInPage(page, 'window.__rearview && window.__rearview.firstPictureMs !== undefined', 'first picture');
      firsts.push(await page.evaluate<number>('window.__rearview.firstPictureMs'));
    } finally {
      await page.close();
    }
  }
  const page = await engine.open(url);
  try {
    await waitInPage(page, `window.__rearview && window.__rearview.path === '${path}'`, `the ${path} path`);
    await waitInPage(page, 'window.__rearview.framesShown > 0', 'pictures');
    await sleep(SETTLE_MS);
    const [skip, skipReceived, shown0] = await page.evaluate<[number, number, number]>(
      '[__rearview.latenciesRaw.length, __rearview.receiveLatenciesRaw.length, __rearview.framesShown]',
    );
    await sleep(SECONDS * 1000);
    const [samples, received, shown1, drops] = await page.evaluate<[number[], number[], number, number]>(
      `[__rearview.latenciesRaw.slice(${skip}), __rearview.receiveLatenciesRaw.slice(${skipReceived}), __rearview.framesShown, __rearview.stats ? __rearview.stats.drops : 0]`,
    );
    return {
      engine: engine.name,
      version: engine.version,
      path,
      latency: summarise(samples),
      received: summarise(received),
      firstPicture: summarise(firsts),
      framesShown: shown1 - shown0,
      drops,
      load: load(),
    };
  } finally {
    await page.close();
  }
}

/** FFmpeg on the daemon's raw TCP stream: capture to decoded frame, matched by the capture-time SEI. */
async function runFfmpeg(serve: ServeProcess): Promise<{ latency: Summary; load: string }> {
  const ffmpeg = spawn(
    requireTool('ffmpeg'),
    [
      '-hide_banner',
      '-loglevel',
      'info',
      '-nostats',
      '-fflags',
      'nobuffer',
      '-flags',
      'low_delay',
      '-probesize',
      '32',
      '-analyzeduration',
      '0',
      '-f',
      'h264',
      '-i',
      `tcp://127.0.0.1:${serve.streamPort}`,
      '-vf',
      'showinfo',
      '-f',
      'null',
      '-',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const samples: number[] = [];
  const measureFromMs = Date.now() + SETTLE_MS + 1000;
  let buffered = '';
  ffmpeg.stderr.on('data', (chunk: Buffer) => {
    const now = Date.now();
    buffered += chunk.toString('latin1');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const m = / User Data=([0-9a-f]{16})/.exec(line);
      if (!m) continue;
      const capturedAtMs = Number(BigInt(`0x${m[1]}`)) / 1000;
      if (capturedAtMs >= measureFromMs) samples.push(now - capturedAtMs);
    }
  });
  await sleep(SETTLE_MS + 1000 + SECONDS * 1000);
  ffmpeg.kill('SIGKILL');
  return { latency: summarise(samples), load: load() };
}

/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100; // USER_HZ is 100 on Linux (getconf CLK_TCK)
}

/** Share of one core the daemon used over `seconds` (percent), and the load average at the end. */
async function measureCpu(pid: number, seconds: number): Promise<{ percent: number; load: string }> {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const c1 = cpuSeconds(pid);
  const t1 = performance.now();
  return { percent: ((c1 - c0) / ((t1 - t0) / 1000)) * 100, load: load() };
}

interface Viewer {
  /** Messages (WebSocket) or RTP packets (WebRTC) received so far. */
  received(): number;
  close(): Promise<void>;
}

async function wsViewer(serve: ServeProcess): Promise<Viewer> {
  const ws = new WebSocket(`ws://127.0.0.1:${serve.apiPort}/api/v1/live`);
  let n = 0;
  ws.on('message', () => n++);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    received: () => n,
    close: async () => {
      ws.terminate();
    },
  };
}

/** A WebRTC viewer in its own process (whep-viewer.ts says why). */
async function webrtcViewer(serve: ServeProcess): Promise<Viewer> {
  const child = spawn(
    process.execPath,
    [new URL('./whep-viewer.js', import.meta.url).pathname, String(serve.apiPort)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  let packets = 0;
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    const last = lines.at(-1);
    if (last !== undefined) packets = Number(last);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    received: () => packets,
    close: async () => {
      child.stdin.end(); // the viewer sends DELETE and exits
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}

interface CpuPoint {
  label: string;
  viewers: number;
  percent: number;
  /** Messages or packets per second per viewer while measured. */
  perViewerRate: number;
  load: string;
}

async function runCpu(c: Case): Promise<CpuPoint[]> {
  const serve = await startDaemon(c.source);
  const pid = serve.process.pid as number;
  const points: CpuPoint[] = [];
  try {
    await sleep(2000); // start-up work out of the baseline
    const baseline = async (label: string): Promise<void> => {
      const m = await measureCpu(pid, CPU_SECONDS);
      points.push({ label, viewers: 0, percent: m.percent, perViewerRate: 0, load: m.load });
    };
    const withViewers = async (
      kind: 'WebSocket' | 'WebRTC',
      count: number,
      make: (s: ServeProcess) => Promise<Viewer>,
    ): Promise<void> => {
      const viewers: Viewer[] = [];
      try {
        for (let i = 0; i < count; i++) viewers.push(await make(serve));
        const deadline = Date.now() + 20_000;
        while (viewers.some((v) => v.received() < 30)) {
          if (Date.now() > deadline)
            throw new Error(
              `${kind} viewers receive too little (${viewers.map((v) => v.received()).join(', ')}); daemon log:\n${serve.stderrLines.slice(-10).join('\n')}`,
            );
          await sleep(50);
        }
        await sleep(2000); // the join burst out of the figure
        const r0 = viewers.map((v) => v.received());
        const m = await measureCpu(pid, CPU_SECONDS);
        const rate = viewers.reduce((s, v, i) => s + (v.received() - (r0[i] as number)), 0) / count / CPU_SECONDS;
        const idle = viewers.filter((v, i) => v.received() === r0[i]).length;
        if (idle > 0)
          throw new Error(
            `${idle} of ${count} ${kind} viewers received nothing while measured; daemon log:\n${serve.stderrLines.slice(-12).join('\n')}`,
          );
        points.push({ label: kind, viewers: count, percent: m.percent, perViewerRate: rate, load: m.load });
      } finally {
        for (const v of viewers) await v.close();
        await sleep(1000);
      }
    };
    // A point that fails is said and left out; the others still run.
    const attempt = async (label: string, run: () => Promise<void>): Promise<void> => {
      try {
        await run();
      } catch (err) {
        console.log(`  ${label} FAILED: ${(err as Error).message}`);
      }
    };
    await baseline('none (before)');
    await attempt('1 WebSocket', () => withViewers('WebSocket', 1, wsViewer));
    await attempt('4 WebSocket', () => withViewers('WebSocket', 4, wsViewer));
    await attempt('1 WebRTC', () => withViewers('WebRTC', 1, webrtcViewer));
    // The creation rate limit (8 per 10 s) is far; the pool (16 here) too.
    await attempt('4 WebRTC', () => withViewers('WebRTC', 4, webrtcViewer));
    await baseline('none (after)');
  } finally {
    await serve.close();
  }
  return points;
}

async function main(): Promise<void> {
  ensureWebBuilt();
  mapCameraHost();
  // Constrained Baseline: the camera's default profile, and the one Debian's Chromium takes over WebRTC.
  const stream720 = make720p('baseline');
  for (const c of CASES) if (c.source === '') c.source = `file:${stream720}`;
  console.log(
    `engine-latency-bench: ${SECONDS} s per path, ${LOADS} loads for first picture, ${CPU_SECONDS} s per CPU point; ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} (2 cores shared with other work: figures from a loaded machine)`,
  );
  const table: string[] = [];
  const cpuTable: string[] = [];
  for (const c of CASES) {
    if (LATENCY) {
      console.log(`\n== ${c.name}: latency (rearview serve --source ${c.source.replace(/^file:.*\//, 'file:')})`);
      const serve = await startDaemon(c.source);
      try {
        for (const spec of ENGINE_SPECS.filter((s) => ENGINES.includes(s.key))) {
          const engine = await spec.launch();
          try {
            console.log(`${engine.version} (not played: ${spec.missing})`);
            for (const path of spec.paths) {
              try {
                const r = await runPath(engine, serve, path);
                console.log(
                  `  ${path.padEnd(9)} capture->screen p50 ${ms(r.latency.p50)} p95 ${ms(r.latency.p95)} p99 ${ms(r.latency.p99)} ms (n=${r.latency.n}, ${r.framesShown} shown, drops ${r.drops})` +
                    `  received p50 ${ms(r.received.p50)}  first picture p50 ${ms(r.firstPicture.p50)} max ${ms(r.firstPicture.p99)} ms (${r.firstPicture.n} loads)  load ${r.load}`,
                );
                table.push(
                  `| ${c.name} | ${r.engine} | ${path} | ${ms(r.latency.p50)} | ${ms(r.latency.p95)} | ${ms(r.latency.p99)} | ${r.latency.n} | ${ms(r.firstPicture.p50)} / ${ms(r.firstPicture.p99)} | ${r.load} |`,
                );
              } catch (err) {
                console.log(`  ${path.padEnd(9)} FAILED: ${(err as Error).message}`);
                table.push(
                  `| ${c.name} | ${engine.name} | ${path} | failed: ${(err as Error).message} | | | | | ${load()} |`,
                );
              }
            }
          } finally {
            await engine.close();
          }
        }
        const ff = await runFfmpeg(serve);
        console.log(
          `FFmpeg raw TCP  capture->decoded p50 ${ms(ff.latency.p50)} p95 ${ms(ff.latency.p95)} p99 ${ms(ff.latency.p99)} ms (n=${ff.latency.n})  load ${ff.load}`,
        );
        table.push(
          `| ${c.name} | FFmpeg (peer) | raw TCP, decoded | ${ms(ff.latency.p50)} | ${ms(ff.latency.p95)} | ${ms(ff.latency.p99)} | ${ff.latency.n} | - | ${ff.load} |`,
        );
      } finally {
        await serve.close();
      }
    }
    if (CPU) {
      console.log(`\n== ${c.name}: daemon CPU per viewer (${CPU_SECONDS} s per point)`);
      const points = await runCpu(c);
      const base = points.filter((p) => p.viewers === 0);
      const basePct = base.reduce((s, p) => s + p.percent, 0) / base.length;
      for (const p of points) {
        const added = p.viewers > 0 ? p.percent - basePct : 0;
        const line =
          p.viewers === 0
            ? `  ${p.label.padEnd(16)} ${p.percent.toFixed(1)} % of one core  load ${p.load}`
            : `  ${`${p.viewers} ${p.label}`.padEnd(16)} ${p.percent.toFixed(1)} % of one core, +${added.toFixed(1)} % (${(added / p.viewers).toFixed(1)} % per viewer), ${p.perViewerRate.toFixed(0)} ${p.label === 'WebRTC' ? 'RTP packets' : 'messages'}/s per viewer  load ${p.load}`;
        console.log(line);
        cpuTable.push(
          `| ${c.name} | ${p.viewers === 0 ? p.label : `${p.viewers} ${p.label}`} | ${p.percent.toFixed(1)} | ${p.viewers === 0 ? '-' : `${added >= 0 ? '+' : ''}${added.toFixed(1)}`} | ${p.viewers === 0 ? '-' : (added / p.viewers).toFixed(1)} | ${p.load} |`,
        );
      }
    }
  }
  if (table.length > 0) {
    console.log(
      '\n| stream | engine | path | p50 ms | p95 ms | p99 ms | n | first picture p50 / max ms | load |\n|---|---|---|---|---|---|---|---|---|',
    );
    for (const row of table) console.log(row);
  }
  if (cpuTable.length > 0) {
    console.log(
      '\n| stream | viewers | daemon CPU % of one core | added % | per viewer % | load |\n|---|---|---|---|---|---|',
    );
    for (const row of cpuTable) console.log(row);
  }
  console.log(
    `\nload average at the end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

await main();
// A browser driver's handles may outlive close(): end here.
process.exit(0);
