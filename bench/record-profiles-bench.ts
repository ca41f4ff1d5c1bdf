/**
 * What the second profile costs: a real `rearview serve --source ffmpeg`
 * (test pattern, recording on, one TCP client reading port 5000) with both
 * profiles (`--record-profile separate`: 640x360 stream + 1280x720 8 Mbit/s
 * recording from one ffmpeg) against one (`--record-profile same`: the
 * 640x360 stream recorded as it is), one point after the other.
 *
 * Per point, after a warm-up, over the measured seconds: the daemon's CPU
 * (utime + stime from /proc/PID/stat, as % of one core) and RSS (VmRSS from
 * /proc/PID/status, sampled every second: mean and peak), and, measured
 * apart, the capture process's CPU (the long-lived ffmpeg child running the
 * encodes; thumbnail ffmpegs are short-lived and not counted), plus the bytes
 * the recorder wrote per minute. The load average is printed beside: on a
 * shared machine it says how far to trust the figures.
 *
 * Run: `npm run build && node dist/bench/record-profiles-bench.js [--seconds 60] [--warmup-seconds 10]`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const seconds = arg('--seconds', 60);
const warmupSeconds = arg('--warmup-seconds', 10);
const cli = new URL('../src/cli/main.js', import.meta.url).pathname;
const clockTicks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime + stime of a process, in seconds (fields 14 and 15 of /proc/PID/stat). */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

function rssBytesOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** The daemon's long-lived capture ffmpeg (its direct child running the lavfi test pattern). */
function captureChildOf(pid: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('lavfi')) return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function folderBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) if (name.endsWith('.mkv')) total += statSync(join(dir, name)).size;
  return total;
}

interface Point {
  profile: string;
  daemonCpuPercent: number;
  rssMeanMb: number;
  rssPeakMb: number;
  captureCpuPercent: number;
  recordedMbPerMinute: number;
  streamKbitPerS: number;
  load: string;
}

async function measure(profile: 'separate' | 'same'): Promise<Point> {
  const dir = mkdtempSync(join(tmpdir(), 'rearview-profiles-bench-'));
  const child = spawn(
    process.execPath,
    [
      cli,
      'serve',
      '--source',
      'ffmpeg',
      '--record-profile',
      profile,
      '--stream-port',
      '0',
      '--api-port',
      '0',
      '--bind',
      '127.0.0.1',
      '--no-mdns',
      '--recordings',
      dir,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let streamPort = 0;
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const m = /^stream listening on tcp:\/\/.+:(\d+)$/.exec(line);
        if (m) streamPort = Number(m[1]);
        if (line.startsWith('watch it') && streamPort) resolve(streamPort);
      });
      child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    // One live viewer, as on the bike: the stream is read, not only produced.
    let streamBytes = 0;
    const viewer = connect(port, '127.0.0.1');
    viewer.on('data', (chunk: Buffer) => {
      streamBytes += chunk.length;
    });
    viewer.on('error', () => undefined); // closed at the end of the point
    await sleep(warmupSeconds * 1000);
    const pid = child.pid as number;
    const capture = captureChildOf(pid);
    if (capture === undefined) throw new Error('no capture ffmpeg found under the daemon');
    const cpu0 = cpuSecondsOf(pid);
    const capture0 = cpuSecondsOf(capture);
    const bytes0 = folderBytes(dir);
    const stream0 = streamBytes;
    const t0 = performance.now();
    const rss: number[] = [];
    while (performance.now() - t0 < seconds * 1000) {
      await sleep(1000);
      rss.push(rssBytesOf(pid));
    }
    const wallS = (performance.now() - t0) / 1000;
    const point: Point = {
      profile,
      daemonCpuPercent: ((cpuSecondsOf(pid) - cpu0) / wallS) * 100,
      rssMeanMb: rss.reduce((a, b) => a + b, 0) / rss.length / 1e6,
      rssPeakMb: Math.max(...rss) / 1e6,
      captureCpuPercent: ((cpuSecondsOf(capture) - capture0) / wallS) * 100,
      recordedMbPerMinute: ((folderBytes(dir) - bytes0) / wallS) * (60 / 1e6),
      streamKbitPerS: ((streamBytes - stream0) * 8) / wallS / 1000,
      load: loadavg()
        .map((l) => l.toFixed(1))
        .join(' '),
    };
    viewer.destroy();
    return point;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

const points: Point[] = [];
for (const profile of ['separate', 'same'] as const) {
  process.stderr.write(`measuring --record-profile ${profile} (${warmupSeconds} s warm-up, ${seconds} s)...\n`);
  points.push(await measure(profile));
}
console.log(
  '| profile | daemon CPU (% of a core) | daemon RSS mean / peak (MB) | capture ffmpeg CPU (% of a core) | recorded MB/min | stream kbit/s | load average 1/5/15 min |',
);
console.log('|---|---|---|---|---|---|---|');
for (const p of points) {
  console.log(
    `| ${p.profile} | ${p.daemonCpuPercent.toFixed(1)} | ${p.rssMeanMb.toFixed(0)} / ${p.rssPeakMb.toFixed(0)} | ${p.captureCpuPercent.toFixed(1)} | ${p.recordedMbPerMinute.toFixed(1)} | ${p.streamKbitPerS.toFixed(0)} | ${p.load} |`,
  );
}
