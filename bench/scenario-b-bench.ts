/**
 * Memory of the camera daemon, scenario B: `rearview serve --source ffmpeg`
 * with both profiles (the 640x360 1 Mbit/s stream and the 1280x720 8 Mbit/s
 * recording, recorded in 60 s segments), then each optional feature added
 * alone, then all of them at once: 2 WebRTC viewers (WHEP), 1 publisher
 * (`--publish rtsp://...` to an ffmpeg RTSP listener), 1 upload in progress
 * (`--upload s3://...` to s3rver on loopback, capped at `--upload-rate` so
 * one finished 60 s segment takes about 30 s), 1 clip export running
 * (`GET /api/v1/clip` of 3 minutes across 4 segments, asked again as soon as
 * one ends).
 *
 * Measured as memory-bench.ts measures scenario A: the summed VmRSS of the
 * daemon and its descendants every 100 ms, the capture process apart (here
 * the daemon's own ffmpeg running the test pattern and both encodes: on the
 * camera that work is the camera stack's and the hardware encoder's, so it is
 * reported beside the tree, not in it). The publisher's ffmpeg and the
 * thumbnail ffmpegs are the daemon's children and are counted. The WebRTC
 * viewers (bench/whep-viewer.ts), the RTSP receiver and s3rver are the
 * bench's, not counted.
 *
 * Runs, each a fresh daemon (features set on the command line need one):
 *  - webrtc: baseline (scenario A without clients or downloads), then +2 WebRTC viewers;
 *    the baseline also checks the optional modules are not loaded (no
 *    node_datachannel.node in /proc/PID/maps, no publish or upload in the
 *    status, no child but the capture);
 *  - clip: baseline again (the run-to-run spread), then +1 clip export;
 *  - publish: `--publish`, receiver up from the start;
 *  - upload: `--upload`, s3rver down at start (configured, idle), then up (+1 upload in progress);
 *  - all: all of the above at once; its peak is the figure of the goal (<= 180 MB).
 * Increments are against the webrtc run's baseline (same-run for webrtc, clip and the idle upload).
 *
 * Usage: node dist/bench/scenario-b-bench.js [--warmup-seconds 20] [--steady-seconds 30]
 *        [--runs webrtc,clip,publish,upload,all]
 * Files go to the OS temp folder (the segments are recorded once and kept, as memory-bench's).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { get, type ClientRequest } from 'node:http';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { writeQueueFile } from '../src/upload/upload-queue.js';
import { S3TestServer, TEST_BUCKET } from '../test/support/s3-server.js';
import { findFfmpeg } from './camera-stream.js';
import { percentile } from './percentile.js';
import {
  commandLine,
  loopDelayBuckets,
  processTree,
  rssKb,
  unitEnvironment,
  waitForLine,
  windowQuantile,
} from './process-tree.js';
import { recordClipSegments, recordSegment } from './recorded-segment.js';

const argv = process.argv.slice(2);
function arg(name: string, fallback: string): string {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? (argv[i + 1] as string) : fallback;
}
const WARMUP_S = Number(arg('--warmup-seconds', '20'));
const STEADY_S = Number(arg('--steady-seconds', '30'));
const RUNS = arg('--runs', 'webrtc,clip,publish,upload,all').split(',');
const SAMPLE_MS = 100;
const CLIP_SEGMENTS = 4;
const CLIP_MS = 3 * 60_000;
const UPLOAD_RATE = '2MB/s';
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const whepViewer = fileURLToPath(new URL('./whep-viewer.js', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mb = (kb: number): string => (kb / 1024).toFixed(0);
const signedMb = (kb: number): string => `${kb >= 0 ? '+' : ''}${(kb / 1024).toFixed(0)}`;
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

/** What a child of the daemon is, from its command line. */
type Kind = 'capture' | 'publisher' | 'thumbnail' | 'other';
function kindOf(cmd: string): Kind {
  if (cmd.includes('lavfi')) return 'capture';
  if (cmd.includes('rtsp://') || cmd.includes('rtmp://')) return 'publisher';
  if (cmd.includes('.jpg') || cmd.includes('image2')) return 'thumbnail';
  return 'other';
}

interface Sample {
  t: number;
  /** The tree without the capture process. */
  treeKb: number;
  daemonKb: number;
  captureKb: number;
  publisherKb: number;
  thumbnailKb: number;
  otherKb: number;
  processes: number;
}

interface PhaseFigures {
  name: string;
  treeMedianKb: number;
  treePeakKb: number;
  daemonMedianKb: number;
  captureMedianKb: number;
  /** The peak sample, to say what made it. */
  peak: Sample;
  loopP99Ms: number;
  load: string;
  note: string;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

/** A WebRTC viewer process (bench/whep-viewer.ts); resolves once it has received RTP packets. */
async function webrtcViewer(apiPort: number): Promise<ChildProcess> {
  const p = spawn(process.execPath, [whepViewer, String(apiPort)], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: p.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      if (Number(l) > 0) resolve();
    });
    p.once('exit', (code) => reject(new Error(`whep-viewer exited ${code}`)));
  });
  return p;
}

/** Clip exports one after the other until stopped: "one clip export running". */
function clipLoop(base: string, fromIso: string, toIso: string): { stop(): void; done: number; bytes: number } {
  let stopped = false;
  let current: ClientRequest | undefined;
  const state = {
    done: 0,
    bytes: 0,
    stop: () => {
      stopped = true;
      current?.destroy();
    },
  };
  void (async () => {
    while (!stopped) {
      const status = await new Promise<number>((resolve) => {
        current = get(
          `${base}/api/v1/clip?from=${encodeURIComponent(fromIso)}&to=${encodeURIComponent(toIso)}`,
          (res) => {
            res.on('data', (c: Buffer) => (state.bytes += c.length));
            res.on('end', () => resolve(res.statusCode ?? 0));
            res.on('error', () => resolve(0));
          },
        );
        current.on('error', () => resolve(0));
      });
      if (stopped) break;
      if (status === 200) state.done++;
      else {
        process.stderr.write(`clip export answered ${status}\n`);
        await sleep(500);
      }
    }
  })();
  return state;
}

async function status(base: string): Promise<{
  publish: Array<{ state: string }>;
  upload: { state: string; uploaded: number } | null;
}> {
  return (await (await fetch(`${base}/api/v1/status`)).json()) as {
    publish: Array<{ state: string }>;
    upload: { state: string; uploaded: number } | null;
  };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** A running daemon of one run, with its sampler. */
interface Daemon {
  base: string;
  apiPort: number;
  pid: number;
  samples: Sample[];
  phase(name: string, seconds: number): Promise<PhaseFigures>;
  mapsHas(name: string): boolean;
}

interface RunSetup {
  /** Arguments beyond the common ones. */
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Files to put in the recordings folder before the daemon starts. */
  prepare?: (rec: string) => Promise<void>;
}

async function withDaemon<T>(setup: RunSetup, body: (d: Daemon) => Promise<T>): Promise<T> {
  const root = mkdtempSync(join(tmpdir(), 'rearview-scenario-b-'));
  const rec = join(root, 'recordings');
  mkdirSync(rec);
  await setup.prepare?.(rec);
  const daemon = spawn(
    process.execPath,
    [cli, 'serve', '--source', 'ffmpeg', '--record-profile', 'separate']
      .concat(['--stream-port', '0', '--api-port', '0', '--bind', '127.0.0.1', '--recordings', rec])
      .concat(['--min-free', '0', '--min-free-percent', '0', '--no-mdns', '--log-level', 'warn'])
      .concat(setup.args),
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...unitEnvironment(), ...setup.env } },
  );
  const samples: Sample[] = [];
  const kinds = new Map<number, Kind>();
  let sampler: NodeJS.Timeout | undefined;
  try {
    const m = await waitForLine(daemon, /api listening on (http:\/\/[^\s]+:(\d+))/);
    const base = m[1] as string;
    const pid = daemon.pid as number;
    sampler = setInterval(() => {
      const s: Sample = {
        t: performance.now(),
        treeKb: 0,
        daemonKb: rssKb(pid),
        captureKb: 0,
        publisherKb: 0,
        thumbnailKb: 0,
        otherKb: 0,
        processes: 0,
      };
      for (const p of processTree(pid)) {
        if (p === pid) continue;
        let kind = kinds.get(p);
        if (kind === undefined) {
          const cmd = commandLine(p);
          if (cmd === '') continue;
          kind = kindOf(cmd);
          kinds.set(p, kind);
          if (kind === 'other') process.stderr.write(`  (a child of the daemon: ${cmd.slice(0, 160)})\n`);
        }
        const kb = rssKb(p);
        if (kind === 'capture') s.captureKb += kb;
        else if (kind === 'publisher') s.publisherKb += kb;
        else if (kind === 'thumbnail') s.thumbnailKb += kb;
        else s.otherKb += kb;
        if (kind !== 'capture') s.processes++;
      }
      s.treeKb = s.daemonKb + s.publisherKb + s.thumbnailKb + s.otherKb;
      samples.push(s);
    }, SAMPLE_MS);
    const d: Daemon = {
      base,
      apiPort: Number(m[2]),
      pid,
      samples,
      mapsHas: (name) => readFileSync(`/proc/${pid}/maps`, 'utf8').includes(name),
      phase: async (name, seconds) => {
        const from = performance.now();
        const delayBefore = await loopDelayBuckets(base);
        await sleep(seconds * 1000);
        const delayAfter = await loopDelayBuckets(base);
        const xs = samples.filter((s) => s.t >= from);
        const peak = xs.reduce((a, b) => (b.treeKb > a.treeKb ? b : a));
        const f: PhaseFigures = {
          name,
          treeMedianKb: percentile(
            xs.map((s) => s.treeKb),
            50,
          ),
          treePeakKb: peak.treeKb,
          daemonMedianKb: percentile(
            xs.map((s) => s.daemonKb),
            50,
          ),
          captureMedianKb: percentile(
            xs.map((s) => s.captureKb),
            50,
          ),
          peak,
          loopP99Ms: windowQuantile(delayBefore, delayAfter, 0.99) * 1000,
          load: load(),
          note: '',
        };
        process.stderr.write(
          `  ${name}: tree median ${mb(f.treeMedianKb)} MB, peak ${mb(f.treePeakKb)} MB; load ${f.load}\n`,
        );
        return f;
      },
    };
    await sleep(WARMUP_S * 1000);
    return await body(d);
  } finally {
    if (sampler) clearInterval(sampler);
    await stop(daemon);
    rmSync(root, { recursive: true, force: true });
  }
}

/** Segments for the clip export: the first CLIP_SEGMENTS of clip-bench's, copied (the daemon refuses hard links). */
async function clipSegments(): Promise<string> {
  const dir = join(tmpdir(), 'rearview-bench', 'clip-10min');
  await recordClipSegments(dir, 10);
  return dir;
}

function copyClipSegments(from: string, rec: string): void {
  for (let i = 0; i < CLIP_SEGMENTS; i++) {
    const name = `log${String(i).padStart(4, '0')}.mkv`;
    copyFileSync(join(from, name), join(rec, name));
  }
}

/** The clip's range: 10 s into the oldest ride (the copied segments), CLIP_MS long. */
async function clipRange(base: string): Promise<[string, string]> {
  const rides = ((await (await fetch(`${base}/api/v1/rides`)).json()) as { rides: Array<{ start: string }> }).rides;
  const start = Date.parse(rides[0]?.start ?? '');
  if (!Number.isFinite(start)) throw new Error(`no ride to cut a clip from: ${JSON.stringify(rides)}`);
  return [new Date(start + 10_000).toISOString(), new Date(start + 10_000 + CLIP_MS).toISOString()];
}

/** Segments the upload finds queued (names after the clip segments', so both can share a folder). */
async function queueUploads(rec: string, segment: string, count: number): Promise<void> {
  const size = statSync(segment).size;
  const names = Array.from({ length: count }, (_, i) => `log${String(100 + i).padStart(4, '0')}.mkv`);
  for (const n of names) copyFileSync(segment, join(rec, n));
  const start = Date.UTC(2026, 1, 1);
  await writeQueueFile(rec, {
    version: 1,
    entries: names.map((name, i) => ({
      name,
      queuedAtMs: Date.now(),
      sizeBytes: size,
      startedAtMs: start + i * 60_000,
      durationMs: 60_000,
      frames: 1800,
      width: 1280,
      height: 720,
      clock: 'valid' as const,
      runId: 'bench',
      attempts: 0,
    })),
    uploaded: [],
  });
}

function uploadArgs(server: S3TestServer): string[] {
  return ['--upload', `s3://${TEST_BUCKET}/bench`, '--upload-endpoint', server.endpoint].concat([
    '--upload-insecure',
    '--upload-path-style',
    '--upload-when',
    'always',
    '--upload-rate',
    UPLOAD_RATE,
  ]);
}
const S3_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

function rtspReceiver(port: number): ChildProcess {
  return spawn(
    findFfmpeg(),
    [
      '-v',
      'error',
      '-rtsp_flags',
      'listen',
      '-i',
      `rtsp://127.0.0.1:${port}/live/cam`,
      '-c',
      'copy',
      '-f',
      'null',
      '-',
    ],
    { stdio: 'ignore' },
  );
}

function row(f: PhaseFigures, baseline: PhaseFigures | undefined): string {
  const inc = (kb: number, b: number | undefined): string => (b === undefined ? '' : ` (${signedMb(kb - b)})`);
  const p = f.peak;
  const parts = [`daemon ${mb(p.daemonKb)}`]
    .concat(p.publisherKb ? [`publisher ${mb(p.publisherKb)}`] : [])
    .concat(p.thumbnailKb ? [`thumbnail ${mb(p.thumbnailKb)}`] : [])
    .concat(p.otherKb ? [`other ${mb(p.otherKb)}`] : []);
  return `| ${f.name} | ${mb(f.treeMedianKb)}${inc(f.treeMedianKb, baseline?.treeMedianKb)} | ${mb(f.treePeakKb)}${inc(f.treePeakKb, baseline?.treePeakKb)} | ${parts.join(', ')} | ${mb(f.daemonMedianKb)} | ${mb(f.captureMedianKb)} | ${f.loopP99Ms.toFixed(1)} | ${f.load} | ${f.note} |`;
}

async function main(): Promise<void> {
  const segment = await recordSegment(join(tmpdir(), 'rearview-memory-bench', 'segment-60s'), 60);
  const clipDir = await clipSegments();
  console.log(
    `scenario B: rearview serve --source ffmpeg, both profiles (640x360 1 Mbit/s stream + 1280x720 8 Mbit/s recording, 60 s segments); ${WARMUP_S} s warm-up, ${STEADY_S} s per phase; tree RSS every ${SAMPLE_MS} ms without the capture ffmpeg`,
  );
  const rows: Array<[PhaseFigures, PhaseFigures | undefined]> = [];
  const checks: string[] = [];
  let baseline: PhaseFigures | undefined;

  if (RUNS.includes('webrtc')) {
    process.stderr.write('run webrtc\n');
    await withDaemon({ args: [] }, async (d) => {
      const s = await status(d.base);
      const children = d.samples.at(-1)?.processes ?? -1;
      checks.push(
        `nothing configured: node_datachannel.node mapped ${d.mapsHas('node_datachannel')}, status.publish ${JSON.stringify(s.publish)}, status.upload ${JSON.stringify(s.upload)}, children besides the capture ${children}`,
      );
      baseline = await d.phase('baseline (scenario A, no client, no download)', STEADY_S);
      rows.push([baseline, undefined]);
      const viewers = [await webrtcViewer(d.apiPort), await webrtcViewer(d.apiPort)];
      checks.push(`after 2 WebRTC viewers: node_datachannel.node mapped ${d.mapsHas('node_datachannel')}`);
      rows.push([await d.phase('+2 WebRTC viewers', STEADY_S), baseline]);
      await Promise.all(viewers.map(stop));
    });
  }
  if (RUNS.includes('clip')) {
    process.stderr.write('run clip\n');
    await withDaemon({ args: [], prepare: async (rec) => copyClipSegments(clipDir, rec) }, async (d) => {
      const b = await d.phase('baseline again (the run-to-run spread)', STEADY_S);
      rows.push([b, baseline]);
      const [from, to] = await clipRange(d.base);
      const clips = clipLoop(d.base, from, to);
      const f = await d.phase('+1 clip export running', STEADY_S);
      f.note = `${clips.done} clips of 3 min exported`;
      rows.push([f, baseline]);
      clips.stop();
    });
  }
  if (RUNS.includes('publish')) {
    process.stderr.write('run publish\n');
    const port = await freePort();
    const receiver = rtspReceiver(port);
    await sleep(500);
    try {
      await withDaemon({ args: ['--publish', `rtsp://127.0.0.1:${port}/live/cam`] }, async (d) => {
        await until('publishing', async () => (await status(d.base)).publish[0]?.state === 'publishing');
        const f = await d.phase('+1 publisher (RTSP, stream profile)', STEADY_S);
        f.note = `publisher ${(await status(d.base)).publish[0]?.state}`;
        rows.push([f, baseline]);
      });
    } finally {
      await stop(receiver);
    }
  }
  if (RUNS.includes('upload')) {
    process.stderr.write('run upload\n');
    const server = await S3TestServer.start({ verify: false });
    await server.stop(); // down at start: configured, idle
    try {
      await withDaemon(
        { args: uploadArgs(server), env: S3_ENV, prepare: (rec) => queueUploads(rec, segment, 3) },
        async (d) => {
          const idle = await d.phase('upload configured, endpoint down (idle)', STEADY_S);
          idle.note = `upload ${(await status(d.base)).upload?.state}`;
          rows.push([idle, baseline]);
          await server.run();
          await until('uploading', async () => (await status(d.base)).upload?.state === 'uploading');
          const f = await d.phase(`+1 upload in progress (60 s segment, ${UPLOAD_RATE})`, STEADY_S);
          const u = (await status(d.base)).upload;
          f.note = `upload ${u?.state}, ${u?.uploaded} done`;
          rows.push([f, baseline]);
        },
      );
    } finally {
      await server.stop();
      rmSync(server.dir, { recursive: true, force: true });
    }
  }
  if (RUNS.includes('all')) {
    process.stderr.write('run all\n');
    const server = await S3TestServer.start({ verify: false });
    const port = await freePort();
    const receiver = rtspReceiver(port);
    await sleep(500);
    try {
      await withDaemon(
        {
          args: ['--publish', `rtsp://127.0.0.1:${port}/live/cam`, ...uploadArgs(server)],
          env: S3_ENV,
          prepare: async (rec) => {
            copyClipSegments(clipDir, rec);
            await queueUploads(rec, segment, 3);
          },
        },
        async (d) => {
          await until('publishing', async () => (await status(d.base)).publish[0]?.state === 'publishing');
          await until('uploading', async () => (await status(d.base)).upload?.state === 'uploading');
          const viewers = [await webrtcViewer(d.apiPort), await webrtcViewer(d.apiPort)];
          const [from, to] = await clipRange(d.base);
          const clips = clipLoop(d.base, from, to);
          // Longer than one phase, so a segment cut (and its thumbnail ffmpeg) falls inside, as on the bike every minute.
          const f = await d.phase('all at once', STEADY_S + 30);
          const s = await status(d.base);
          f.note = `${clips.done} clips exported; publish ${s.publish[0]?.state}, upload ${s.upload?.state}`;
          rows.push([f, baseline]);
          clips.stop();
          await Promise.all(viewers.map(stop));
        },
      );
    } finally {
      await stop(receiver);
      await server.stop();
      rmSync(server.dir, { recursive: true, force: true });
    }
  }

  console.log('\nloaded only when configured:');
  for (const c of checks) console.log(`  ${c}`);
  console.log(
    '\n| phase | tree RSS median MB (vs baseline) | tree RSS peak MB (vs baseline) | at the peak, MB | daemon median MB | capture ffmpeg MB (not in the tree) | event-loop p99 ms | load 1/5/15 | note |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const [f, b] of rows) console.log(row(f, b));
  const all = rows.find(([f]) => f.name === 'all at once')?.[0];
  if (all)
    console.log(
      `\ngoal: tree peak <= 180 MB with everything at once: ${mb(all.treePeakKb)} MB, ${all.treePeakKb <= 180 * 1024 ? 'met' : 'NOT met'}`,
    );
}

await main();
