/**
 * Soak at the camera's scale (issue 16 §6): `rearview serve --source ffmpeg`
 * (the test pattern, one capture encoded twice: the 640x360 1 Mbit/s stream
 * and the 1280x720 30 fps 8 Mbit/s recording profile, docs/recording.md "Two
 * profiles") recording 60 s segments, with 3 TCP clients on the stream port,
 * 1 WebSocket viewer on /api/v1/live, and one MP4 download
 * (`GET /download-video?PATH`) of the newest finished segment every minute.
 *
 * Every 10 s: the RSS of the daemon's process tree (the daemon and its helper
 * children: converters, thumbnail decoders) with the capture process (the
 * ffmpeg encoding the test pattern, and its children) measured apart, and the
 * daemon's open file descriptors (/proc/PID/fd). At the end every segment is
 * decoded in full by ffmpeg (`-v error`, any error line counts) and probed
 * (frames, duration, size), and each downloaded MP4 was probed when it came.
 *
 * Goals: tree RSS growth < 5 MB between minute 5 and the end, no fd growth,
 * every segment valid. Prints a markdown summary; `--json FILE` writes the
 * figures and every sample.
 *
 * Usage: node dist/bench/soak-bench.js [--minutes 60] [--json FILE] [--keep]
 *        [--segment-seconds 60] [--download-every-seconds 60] (shorter: an
 *        accelerated soak, as many segment cuts and downloads in less time)
 *        [--no-unit-env] (the daemon without deploy/rearview.service's malloc
 *        settings, which it runs with otherwise, as on the camera)
 *
 * Every sample also reads the daemon's /metrics: its main thread's V8 heap
 * (used, total) and the memory JS objects hold outside it, so growth can be
 * told apart as heap (kept objects) or native (allocator, threads).
 * Files go to a fresh folder under the OS temp folder (removed at the end
 * unless --keep).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { findFfmpeg } from './camera-stream.js';
import { commandLine, fetchText, processTree, rssKb, unitEnvironment, waitForLine } from './process-tree.js';

const argv = process.argv.slice(2);
function arg(name: string, fallback: string): string {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? (argv[i + 1] as string) : fallback;
}
const MINUTES = Number(arg('--minutes', '60'));
const JSON_OUT = arg('--json', '');
const KEEP = argv.includes('--keep');
const SAMPLE_MS = 10_000;
const SEGMENT_SECONDS = Number(arg('--segment-seconds', '60'));
const DOWNLOAD_EVERY_MS = Number(arg('--download-every-seconds', '60')) * 1000;
const BASELINE_MS = Math.min(5 * 60_000, (MINUTES * 60_000) / 2);
const TCP_CLIENTS = 3;
const FFMPEG = findFfmpeg();
const FFPROBE = FFMPEG.replace(/ffmpeg$/, 'ffprobe');
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

if (!Number.isFinite(MINUTES) || MINUTES < 1) throw new Error('--minutes must be at least 1');
if (!Number.isInteger(SEGMENT_SECONDS) || SEGMENT_SECONDS < 2) throw new Error('--segment-seconds: an integer >= 2');
if (!Number.isFinite(DOWNLOAD_EVERY_MS) || DOWNLOAD_EVERY_MS < 1000)
  throw new Error('--download-every-seconds must be at least 1');

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

interface Sample {
  /** Seconds since the clients connected. */
  t: number;
  daemonKb: number;
  /** The daemon and its descendants, the capture process's subtree left out. */
  treeKb: number;
  captureKb: number;
  processes: number;
  daemonFds: number;
  tcpBytes: number;
  wsFrames: number;
  /** The daemon's /metrics: V8 heap used and total, memory outside it (external), KB; -1 when not read. */
  heapUsedKb: number;
  heapTotalKb: number;
  externalKb: number;
  /** Of heapTotalKb, the young generation's reserved size (new_space), KB. */
  newSpaceKb: number;
}

/** The daemon's V8 heap and external memory from its /metrics, KB. */
async function heapKb(base: string): Promise<{ used: number; total: number; external: number; newSpace: number }> {
  const text = await fetchText(`${base}/metrics`);
  const read = (re: RegExp): number => Math.round(Number(re.exec(text)?.[1] ?? -1024) / 1024);
  return {
    used: read(/^rearview_heap_bytes\{kind="used"\} (\d+)$/m),
    total: read(/^rearview_heap_bytes\{kind="total"\} (\d+)$/m),
    external: read(/^rearview_external_memory_bytes\{kind="external"\} (\d+)$/m),
    newSpace: read(/^rearview_heap_space_bytes\{space="new_space",kind="size"\} (\d+)$/m),
  };
}

async function fetchJson<T>(url: string): Promise<T> {
  return JSON.parse(await fetchText(url)) as T;
}

/** GET into a file until the answer is not 429. */
async function download(url: string, file: string): Promise<{ status: number; bytes: number; retries: number }> {
  for (let retries = 0; ; retries++) {
    const r = await new Promise<{ status: number; bytes: number }>((resolve, reject) => {
      get(url, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: 0 }));
          return;
        }
        const out = createWriteStream(file);
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.pipe(out);
        out.on('finish', () => resolve({ status: 200, bytes: n }));
        res.on('error', reject);
        out.on('error', reject);
      }).on('error', reject);
    });
    if (r.status !== 429) return { ...r, retries };
    await sleep(500);
  }
}

interface Probe {
  frames: number;
  durationS: number;
  width: number;
  height: number;
}

function probe(file: string): Probe | string {
  const r = spawnSync(
    FFPROBE,
    ['-v', 'error', '-select_streams', 'v:0', '-count_packets'].concat([
      '-show_entries',
      'stream=width,height,nb_read_packets:format=duration',
      '-of',
      'json',
      file,
    ]),
    { encoding: 'utf8' },
  );
  if (r.status !== 0) return `ffprobe exit ${r.status}: ${r.stderr.trim().split('\n')[0] ?? ''}`;
  try {
    const j = JSON.parse(r.stdout) as {
      streams?: Array<{ width?: number; height?: number; nb_read_packets?: string }>;
      format?: { duration?: string };
    };
    const s = j.streams?.[0];
    if (!s) return 'no video stream';
    return {
      frames: Number(s.nb_read_packets ?? 0),
      durationS: Number(j.format?.duration ?? Number.NaN),
      width: s.width ?? 0,
      height: s.height ?? 0,
    };
  } catch (e) {
    return `ffprobe output: ${(e as Error).message}`;
  }
}

/**
 * Decodes the whole file; every line ffmpeg prints at level error is a decode error, except the
 * null muxer's complaint about two frames with the same millisecond timestamp (Matroska's
 * timestamps are milliseconds), which says nothing about the pictures: counted apart.
 */
function decodeErrors(file: string): { errors: number; sameDts: number; firstError: string } {
  const r = spawnSync(FFMPEG, ['-nostdin', '-v', 'error', '-i', file, '-map', '0:v:0', '-f', 'null', '-'], {
    encoding: 'utf8',
  });
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  const dts = lines.filter((l) => /non monotonically increasing dts/.test(l));
  const errors = lines.filter((l) => !/non monotonically increasing dts|Last message repeated/.test(l));
  return {
    errors: errors.length + (r.status === 0 ? 0 : 1),
    sameDts: dts.length,
    firstError: errors[0] ?? (r.status ? `exit ${r.status}` : ''),
  };
}

interface DownloadResult {
  t: number;
  name: string;
  status: number;
  bytes: number;
  retries: number;
  seconds: number;
  probe: Probe | string;
}

const mb = (kb: number): string => (kb / 1024).toFixed(1);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
};

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'rearview-soak-'));
  const rec = join(root, 'recordings');
  const dl = join(root, 'download.mp4');
  const daemon = spawn(
    process.execPath,
    [cli, 'serve', '--source', 'ffmpeg', '--stream-port', '0', '--api-port', '0', '--bind', '127.0.0.1']
      .concat(['--recordings', rec, '--min-free', '0', '--min-free-percent', '0'])
      .concat(['--no-mdns', '--device-backend', 'simulated', '--log-level', 'warn'])
      .concat(SEGMENT_SECONDS === 60 ? [] : ['--segment', `${SEGMENT_SECONDS}s`]),
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...unitEnvironment(), REARVIEW_FFMPEG: FFMPEG } },
  );
  const samples: Sample[] = [];
  const downloads: DownloadResult[] = [];
  const tcp: Socket[] = [];
  let tcpBytes = 0;
  let tcpCloses = 0;
  let ws: WebSocket | undefined;
  let wsFrames = 0;
  let wsSeqGaps = 0;
  let wsCloses = 0;
  let sampler: NodeJS.Timeout | undefined;
  let closedDuringSoak = { tcp: 0, ws: 0 };
  const started = new Date();
  let daemonExit: number | null | undefined;
  daemon.once('exit', (code) => (daemonExit = code));
  // Interrupted: stop the daemon too (it stops its capture), or it keeps recording, orphaned.
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      // Already gone (stopped at the end of the soak, before the segments are decoded): exit now.
      if (daemon.exitCode !== null || daemon.signalCode !== null) process.exit(130);
      daemon.kill('SIGTERM');
      daemon.once('exit', () => process.exit(130));
    });
  try {
    const m = await waitForLine(
      daemon,
      /stream listening on tcp:\/\/[^\s]*:(\d+)\s+api listening on (http:\/\/[^\s]+)/,
    );
    const streamPort = Number(m[1]);
    const base = m[2] as string;
    const pid = daemon.pid as number;
    console.log(`# rearview soak: ${MINUTES} min, started ${started.toISOString()}`);
    console.log(
      `daemon: rearview serve --source ffmpeg (test pattern; stream 640x360 1 Mbit/s, recording 1280x720 30 fps 8 Mbit/s), ${TCP_CLIENTS} TCP clients, 1 WebSocket viewer, 1 MP4 download a minute`,
    );

    for (let i = 0; i < TCP_CLIENTS; i++) {
      const s = connect(streamPort, '127.0.0.1');
      s.on('data', (d: Buffer) => (tcpBytes += d.length));
      s.on('error', () => undefined);
      s.on('close', () => tcpCloses++);
      tcp.push(s);
    }
    ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/v1/live`);
    let lastSeq = -1;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary || data.length < 32) return;
      const seq = data.readUInt32BE(4);
      if (lastSeq >= 0 && seq !== (lastSeq + 1) >>> 0) wsSeqGaps++;
      lastSeq = seq;
      wsFrames++;
    });
    ws.on('error', () => undefined);
    ws.on('close', () => wsCloses++);

    const t0 = performance.now();
    const elapsed = (): number => (performance.now() - t0) / 1000;
    const sample = async (): Promise<void> => {
      const heap = await heapKb(base).catch(() => ({ used: -1, total: -1, external: -1, newSpace: -1 }));
      const all = processTree(pid);
      const capture = new Set<number>();
      for (const p of all)
        if (p !== pid && /\bffmpeg\b.*testsrc2/.test(commandLine(p))) for (const q of processTree(p)) capture.add(q);
      const rest = all.filter((p) => !capture.has(p));
      const s: Sample = {
        t: Math.round(elapsed()),
        daemonKb: rssKb(pid),
        treeKb: rest.reduce((a, p) => a + rssKb(p), 0),
        captureKb: [...capture].reduce((a, p) => a + rssKb(p), 0),
        processes: rest.length,
        daemonFds: fdCount(pid),
        tcpBytes,
        wsFrames,
        heapUsedKb: heap.used,
        heapTotalKb: heap.total,
        externalKb: heap.external,
        newSpaceKb: heap.newSpace,
      };
      samples.push(s);
      console.log(
        `t=${String(s.t).padStart(5)} s  tree ${mb(s.treeKb)} MB (${s.processes} proc)  daemon ${mb(s.daemonKb)} MB  capture ${mb(s.captureKb)} MB  heap ${mb(s.heapUsedKb)}/${mb(s.heapTotalKb)} MB (new space ${mb(s.newSpaceKb)})  external ${mb(s.externalKb)} MB  fds ${s.daemonFds}  tcp ${(tcpBytes / 1e6).toFixed(0)} MB  ws ${wsFrames} frames`,
      );
    };
    await sample();
    sampler = setInterval(() => void sample(), SAMPLE_MS);

    const end = t0 + MINUTES * 60_000;
    let nextDownload = t0 + Math.max(DOWNLOAD_EVERY_MS, SEGMENT_SECONDS * 1000) + 5_000; // after the first segment closes
    while (performance.now() < end) {
      if (daemonExit !== undefined) throw new Error(`daemon exited (${daemonExit}) during the soak`);
      const wait = Math.min(end, nextDownload) - performance.now();
      if (wait > 0) await sleep(wait);
      if (performance.now() < nextDownload || performance.now() >= end) continue;
      nextDownload += DOWNLOAD_EVERY_MS;
      const list = await fetchJson<{ recordings: Array<{ name: string; inProgress: boolean }> }>(
        `${base}/api/v1/recordings`,
      );
      const finished = list.recordings.filter((r) => !r.inProgress);
      const newest = finished.at(-1);
      if (!newest) {
        console.log(`t=${Math.round(elapsed())} s  no finished segment yet`);
        continue;
      }
      const from = performance.now();
      const r = await download(`${base}/download-video?${join(rec, newest.name)}`, dl).catch((e: Error) => ({
        status: 0,
        bytes: 0,
        retries: 0,
        error: e.message,
      }));
      const d: DownloadResult = {
        t: Math.round(elapsed()),
        name: newest.name,
        ...r,
        seconds: (performance.now() - from) / 1000,
        probe: r.status === 200 ? probe(dl) : `HTTP ${r.status}`,
      };
      rmSync(dl, { force: true });
      downloads.push(d);
      const p = typeof d.probe === 'string' ? d.probe : `${d.probe.frames} frames ${d.probe.durationS.toFixed(1)} s`;
      console.log(
        `t=${String(d.t).padStart(5)} s  download ${d.name}: HTTP ${d.status}, ${(d.bytes / 1e6).toFixed(1)} MB in ${d.seconds.toFixed(1)} s (${d.retries} x 429), ${p}`,
      );
    }
  } finally {
    if (sampler) clearInterval(sampler);
    closedDuringSoak = { tcp: tcpCloses, ws: wsCloses };
    for (const s of tcp) s.destroy();
    ws?.close();
    if (daemonExit === undefined) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.once('exit', r));
    }
  }

  // Every segment, the last one (closed by the SIGTERM) included.
  const names = readdirSync(rec)
    .filter((n) => n.endsWith('.mkv'))
    .sort();
  const segments = names.map((name) => {
    const file = join(rec, name);
    const p = probe(file);
    const d = decodeErrors(file);
    return {
      name,
      bytes: statSync(file).size,
      probe: p,
      decodeErrors: d.errors,
      sameDtsWarnings: d.sameDts,
      firstError: d.firstError,
    };
  });

  // A download a minute lifts the tree for part of each minute, so like is compared with like:
  // the floor (lowest sample: between downloads) and the peak (during one) of the minute around
  // the baseline against those of the last minute.
  const minute = (fromS: number): Sample[] => samples.filter((s) => s.t >= fromS && s.t < fromS + 60);
  const base5 = minute(BASELINE_MS / 1000 - 30);
  const last = minute((samples.at(-1)?.t ?? 0) - 59);
  const floor = (xs: Sample[], k: (s: Sample) => number): number => Math.min(...xs.map(k));
  const peak = (xs: Sample[], k: (s: Sample) => number): number => Math.max(...xs.map(k));
  const tree5 = floor(base5, (s) => s.treeKb);
  const treeEnd = floor(last, (s) => s.treeKb);
  const treePeak5 = peak(base5, (s) => s.treeKb);
  const treePeakEnd = peak(last, (s) => s.treeKb);
  const daemon5 = floor(base5, (s) => s.daemonKb);
  const daemonEnd = floor(last, (s) => s.daemonKb);
  const fd5 = floor(base5, (s) => s.daemonFds);
  const fdEnd = floor(last, (s) => s.daemonFds);
  const afterBase = samples.filter((s) => s.t * 1000 >= BASELINE_MS);
  const treePeak = Math.max(...samples.map((s) => s.treeKb));
  const treeMaxAfter = Math.max(...afterBase.map((s) => s.treeKb));
  const treeMinAfter = Math.min(...afterBase.map((s) => s.treeKb));
  const badSegments = segments.filter((s) => typeof s.probe === 'string' || s.decodeErrors > 0 || s.probe.frames === 0);
  const okDownloads = downloads.filter((d) => d.status === 200 && typeof d.probe !== 'string' && d.probe.frames > 0);
  const lastSample = samples.at(-1);
  const seconds = lastSample?.t ?? 0;
  const recordedBytes = segments.reduce((a, s) => a + s.bytes, 0);
  const recordedSeconds = segments.reduce((a, s) => a + (typeof s.probe === 'string' ? 0 : s.probe.durationS), 0);
  const growthMb = (treeEnd - tree5) / 1024;

  const summary = {
    minutes: MINUTES,
    startedAt: started.toISOString(),
    endedAt: new Date().toISOString(),
    baselineSeconds: BASELINE_MS / 1000,
    rssMb: {
      treeAtBaseline: tree5 / 1024,
      treeAtEnd: treeEnd / 1024,
      treeGrowth: growthMb,
      treePeakAtBaseline: treePeak5 / 1024,
      treePeakAtEnd: treePeakEnd / 1024,
      treePeakGrowth: (treePeakEnd - treePeak5) / 1024,
      treePeak: treePeak / 1024,
      treeRangeAfterBaseline: [treeMinAfter / 1024, treeMaxAfter / 1024],
      daemonAtBaseline: daemon5 / 1024,
      daemonAtEnd: daemonEnd / 1024,
      captureMedian: median(samples.map((s) => s.captureKb)) / 1024,
    },
    fds: { atBaseline: fd5, atEnd: fdEnd, max: Math.max(...samples.map((s) => s.daemonFds)) },
    live: {
      tcpMbitPerClient: (tcpBytes * 8) / 1e6 / Math.max(1, seconds) / TCP_CLIENTS,
      tcpCloses: closedDuringSoak.tcp,
      wsFrames,
      wsFps: wsFrames / Math.max(1, seconds),
      wsSeqGaps,
      wsCloses: closedDuringSoak.ws,
    },
    downloads: { asked: downloads.length, ok: okDownloads.length, results: downloads },
    segments: {
      count: segments.length,
      invalid: badSegments.length,
      recordedMbit: (recordedBytes * 8) / 1e6 / Math.max(1, recordedSeconds),
      list: segments,
    },
    goals: {
      rssGrowthUnder5Mb: growthMb < 5,
      noFdGrowth: fdEnd <= fd5,
      everySegmentValid: segments.length > 0 && badSegments.length === 0,
    },
    samples,
  };
  if (JSON_OUT) writeFileSync(JSON_OUT, `${JSON.stringify(summary, null, 2)}\n`);

  const yes = (b: boolean): string => (b ? 'yes' : '**NO**');
  console.log(`\n## Soak summary (${MINUTES} min, ${summary.startedAt} to ${summary.endedAt})\n`);
  console.log('| figure | value | goal |');
  console.log('|---|---|---|');
  const b = BASELINE_MS / 60_000;
  console.log(
    `| tree RSS at ${b} min, floor of that minute (between downloads) | ${mb(tree5)} MB (daemon ${mb(daemon5)} MB) | |`,
  );
  console.log(`| tree RSS at the end, floor of the last minute | ${mb(treeEnd)} MB (daemon ${mb(daemonEnd)} MB) | |`);
  console.log(`| growth of the floor after ${b} min | ${growthMb.toFixed(1)} MB | < 5 MB: ${yes(growthMb < 5)} |`);
  console.log(
    `| peak of the minute (a download running) at ${b} min / at the end | ${mb(treePeak5)} / ${mb(treePeakEnd)} MB | |`,
  );
  console.log(
    `| tree RSS after ${BASELINE_MS / 60_000} min, min..max (peak overall) | ${mb(treeMinAfter)}..${mb(treeMaxAfter)} MB (${mb(treePeak)} MB) | |`,
  );
  console.log(`| capture process (measured apart, median) | ${summary.rssMb.captureMedian.toFixed(1)} MB | |`);
  console.log(
    `| daemon fds at ${BASELINE_MS / 60_000} min / end / max | ${fd5} / ${fdEnd} / ${summary.fds.max} | no growth: ${yes(fdEnd <= fd5)} |`,
  );
  console.log(
    `| segments | ${segments.length}, ${badSegments.length} invalid, ${summary.segments.recordedMbit.toFixed(2)} Mbit/s recorded | all valid: ${yes(summary.goals.everySegmentValid)} |`,
  );
  console.log(`| MP4 downloads | ${okDownloads.length} of ${downloads.length} valid | |`);
  console.log(
    `| live | TCP ${summary.live.tcpMbitPerClient.toFixed(2)} Mbit/s per client (${closedDuringSoak.tcp} closed), WebSocket ${summary.live.wsFps.toFixed(1)} fps (${wsSeqGaps} seq gaps, ${closedDuringSoak.ws} closed) | |`,
  );
  for (const s of badSegments)
    console.log(`invalid segment ${s.name}: ${typeof s.probe === 'string' ? s.probe : ''} ${s.firstError}`);
  const sameDts = segments.reduce((a, s) => a + s.sameDtsWarnings, 0);
  if (sameDts > 0)
    console.log(
      `${sameDts} frames share a millisecond timestamp with the one before (not decode errors; see the JSON)`,
    );
  if (!KEEP) rmSync(root, { recursive: true, force: true });
  else console.log(`files kept in ${root}`);
}

await main();
