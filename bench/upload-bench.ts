/**
 * Upload cost: one segment (60 MB of random bytes by default, like a minute
 * at 8 Mbit/s) uploaded to s3rver on loopback by our uploader (the daemon's
 * upload path: Uploader + S3Client, hashing, 8 MiB parts, HEAD verify) in a
 * child Node process, and by curl (`--aws-sigv4`, one PUT) in the same run.
 * Reports throughput, CPU seconds per GB (user + system from /proc, sampled
 * every 20 ms) and the uploader process's RSS growth from just before the
 * upload to its peak (VmHWM minus RSS at start).
 *
 * Run: npm run build && node dist/bench/upload-bench.js [--mb 60] [--runs 3]
 * s3rver (the server) runs in this process and costs CPU of its own, the
 * same for both clients; its signature checks are off.
 *
 * `--daemon` measures in the daemon's process tree instead: `rearview serve`
 * recording the sample (60 s segments, so none finishes meanwhile) finds two
 * real 60 s 720p 8 Mbit/s segments (bench/recorded-segment.ts) queued from an
 * earlier run, with the endpoint down; once its RSS has settled (2 s; 30 s
 * when recording) the server comes up and the daemon uploads them one after
 * the other (first with --no-record, then recording). Reported: the tree's
 * RSS (daemon and children, every 50 ms) before (median and peak of 5 s, 10 s
 * when recording, without uploads), its peak during each upload, and curl's
 * peak RSS uploading the same file.
 * Run: npm run build && node dist/bench/upload-bench.js --daemon [--runs 3]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { writeQueueFile } from '../src/upload/upload-queue.js';
import { cliPath } from '../test/support/paths.js';
import { S3TestServer, TEST_BUCKET } from '../test/support/s3-server.js';
import { recordSegment } from './recorded-segment.js';

const CLK_TCK = 100;
const PAGE = 4096;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** user+system CPU seconds and RSS/HWM bytes of a process, or undefined when it is gone. */
function sample(pid: number): { cpuS: number; rss: number; hwm: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuS = (Number(f[11]) + Number(f[12])) / CLK_TCK;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
    return { cpuS, rss: Number(f[21]) * PAGE, hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

async function child(dir: string, endpoint: string): Promise<void> {
  const { S3Client } = await import('../src/upload/s3-client.js');
  const { Uploader } = await import('../src/upload/uploader.js');
  const client = new S3Client({
    endpoint: new URL(endpoint),
    bucket: TEST_BUCKET,
    region: 'us-east-1',
    pathStyle: true,
    credentials: () => ({ accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }),
  });
  const up = new Uploader({
    dir,
    client,
    target: 'bench',
    prefix: 'bench/',
    cameraName: 'cam',
    when: 'always',
    runId: 'bench',
  });
  await up.start();
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  const size = readFileSync(join(dir, 'size'), 'utf8');
  up.enqueue({
    name: 'log0001.mkv',
    startedAtMs: Date.UTC(2027, 0, 1),
    durationMs: 60_000,
    frames: 1800,
    sizeBytes: Number(size),
    width: 1280,
    height: 720,
    provisional: false,
  });
  const s = await up.waitFor((x) => x.uploaded === 1 || x.failures > 0);
  process.stdout.write(`${JSON.stringify({ uploaded: s.uploaded, verified: s.verified, error: s.lastError })}\n`);
  // A second upload in the same process: what is left once V8 has compiled and sized itself for the first.
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  up.enqueue({
    name: 'log0002.mkv',
    startedAtMs: Date.UTC(2027, 0, 1, 0, 1),
    durationMs: 60_000,
    frames: 1800,
    sizeBytes: Number(size),
    width: 1280,
    height: 720,
    provisional: false,
  });
  const s2 = await up.waitFor((x) => x.uploaded === 2 || x.failures > 0);
  process.stdout.write(`${JSON.stringify({ uploaded: s2.uploaded, error: s2.lastError })}\n`);
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  await up.close();
}

interface Result {
  seconds: number;
  cpuS: number;
  rssGrowth: number | null;
  /** The same upload again in the same process. */
  rssGrowthSecond?: number;
}

async function runOurs(dir: string, endpoint: string): Promise<Result> {
  const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', dir, endpoint], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: p.stdout });
  const next = (): Promise<string> => new Promise((resolve) => lines.once('line', resolve));
  if ((await next()) !== 'ready') throw new Error('child did not start');
  const before = sample(p.pid as number);
  if (!before) throw new Error('no child');
  const t0 = performance.now();
  let last = before;
  const timer = setInterval(() => {
    last = sample(p.pid as number) ?? last;
  }, 20);
  p.stdin.write('go\n');
  const done = JSON.parse(await next()) as { uploaded: number; error: unknown };
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(timer);
  last = sample(p.pid as number) ?? last;
  if (done.uploaded !== 1) throw new Error(`upload failed: ${JSON.stringify(done.error)}`);
  // The second upload: the peak is reset first (writing 5 to clear_refs resets VmHWM).
  writeFileSync(`/proc/${p.pid}/clear_refs`, '5');
  const before2 = sample(p.pid as number) ?? last;
  p.stdin.write('again\n');
  const done2 = JSON.parse(await next()) as { uploaded: number; error: unknown };
  const after2 = sample(p.pid as number) ?? before2;
  p.stdin.end('bye\n');
  await new Promise((r) => p.once('exit', r));
  if (done2.uploaded !== 2) throw new Error(`second upload failed: ${JSON.stringify(done2.error)}`);
  return {
    seconds,
    cpuS: last.cpuS - before.cpuS,
    rssGrowth: last.hwm - before.rss,
    rssGrowthSecond: after2.hwm - before2.rss,
  };
}

/** RSS of a process and all its descendants (from /proc/PID/task/TID/children), bytes. */
function treeRss(pid: number): number {
  const pids = [pid];
  let total = 0;
  for (let i = 0; i < pids.length; i++) {
    const p = pids[i] as number;
    total += sample(p)?.rss ?? 0;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/))
          if (c) pids.push(Number(c));
      } catch {
        // gone meanwhile
      }
    }
  }
  return total;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** One daemon run: two queued 60 s segments uploaded once the endpoint comes up. */
async function runDaemon(
  segment: string,
  run: number,
  record: boolean,
): Promise<{ before: number; quietPeak: number; peaks: number[]; seconds: number[] }> {
  const server = await S3TestServer.start({ verify: false });
  await server.stop(); // the endpoint is down when the daemon starts
  const dir = join(mkdtempSync(join(tmpdir(), 'rearview-upload-bench-')), 'recordings');
  mkdirSync(dir);
  const names = ['log0000.mkv', 'log0001.mkv'];
  const size = statSync(segment).size;
  for (const n of names) copyFileSync(segment, join(dir, n));
  const start = Date.UTC(2027, 0, 1, 0, run);
  await writeQueueFile(dir, {
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
  const args = [cliPath, 'serve', '--stream-port', '0', '--api-port', '0', '--no-mdns', '--device-backend', 'simulated']
    .concat(['--recordings', dir, '--segment', '600s', '--upload', `s3://${TEST_BUCKET}/bench`])
    .concat(record ? [] : ['--no-record'])
    .concat([
      '--upload-endpoint',
      server.endpoint,
      '--upload-insecure',
      '--upload-path-style',
      '--upload-when',
      'always',
    ]);
  const p = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
  });
  p.stderr.resume();
  const lines = createInterface({ input: p.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    lines.on('line', (l) => {
      const m = /^api listening on http:\/\/.+:(\d+)$/.exec(l);
      if (m) resolve(Number(m[1]));
    });
    p.once('exit', (code) => reject(new Error(`rearview serve exited ${code}`)));
  });
  const status = async (): Promise<{ uploaded: number; state: string }> =>
    (
      (await (await fetch(`http://127.0.0.1:${port}/api/v1/status`)).json()) as {
        upload: { uploaded: number; state: string };
      }
    ).upload;
  const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  // Settle: the daemon runs, the uploader has failed once (offline). Then 5 s (recording: 10 s) of
  // samples without uploads: their median is "before", their peak how far RSS wanders without uploading.
  // Recording needs longer: its buffers and heap grow over the first half-minute.
  while ((await status()).state !== 'offline') await pause(100);
  await pause(record ? 30_000 : 2000);
  const quiet: number[] = [];
  for (let i = 0; i < (record ? 200 : 100); i++) {
    quiet.push(treeRss(p.pid as number));
    await pause(50);
  }
  const before = median(quiet);
  const quietPeak = Math.max(...quiet);
  await server.run(); // same port: the next retry (within 2-8 s) starts the uploads
  const peaks = [0, 0];
  const seconds = [0, 0];
  let phase = 0;
  let phaseStart = 0;
  let polled = 0;
  for (;;) {
    const rss = treeRss(p.pid as number);
    if (phase < 2) peaks[phase] = Math.max(peaks[phase] as number, rss);
    await pause(50);
    if (++polled % 4 !== 0) continue;
    const s = await status();
    if (phase === 0 && s.state === 'uploading' && phaseStart === 0) phaseStart = performance.now();
    if (s.uploaded > phase) {
      seconds[phase] = (performance.now() - phaseStart) / 1000;
      phaseStart = performance.now();
      phase = s.uploaded;
    }
    if (phase >= 2) break;
  }
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
  await server.stop();
  return { before, quietPeak, peaks, seconds };
}

async function curlPeak(file: string, port: number): Promise<number> {
  const p = spawn(
    'curl',
    ['-sS', '-f', '-o', '/dev/null', '--aws-sigv4', 'aws:amz:us-east-1:s3', '--user', 'S3RVER:S3RVER']
      .concat(['-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD', '-T', file])
      .concat([`http://127.0.0.1:${port}/${TEST_BUCKET}/curl/peak.mkv`]),
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  let hwm = 0;
  const timer = setInterval(() => {
    hwm = Math.max(hwm, sample(p.pid as number)?.hwm ?? 0);
  }, 20);
  await new Promise((r) => p.once('exit', r));
  clearInterval(timer);
  return hwm;
}

async function daemonMode(runs: number): Promise<void> {
  const segment = await recordSegment(join(tmpdir(), 'rearview-memory-bench', 'segment-60s'), 60);
  const mb = (statSync(segment).size / 1e6).toFixed(1);
  console.log(`daemon tree RSS while uploading two ${mb} MB segments one after the other, ${runs} run(s) each`);
  const f = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;
  for (const record of [false, true]) {
    console.log(record ? 'rearview serve recording the sample (60 s segments):' : 'rearview serve --no-record:');
    for (let i = 0; i < runs; i++) {
      const r = await runDaemon(segment, i, record);
      const server = await S3TestServer.start({ verify: false });
      const curl = await curlPeak(segment, server.port);
      await server.stop();
      const up = (k: number): string =>
        `${f(r.peaks[k] as number)} (+${f((r.peaks[k] as number) - r.before)}; ${(r.seconds[k] as number).toFixed(1)} s)`;
      console.log(
        `  run ${i + 1}: before median ${f(r.before)}, peak without uploads ${f(r.quietPeak)} (+${f(r.quietPeak - r.before)}); 1st upload peak ${up(0)}; 2nd ${up(1)} | curl peak RSS ${f(curl)}`,
      );
    }
  }
}

async function runCurl(file: string, port: number, n: number): Promise<Result> {
  const p = spawn(
    'curl',
    [
      '-sS',
      '-f',
      '-o',
      '/dev/null',
      '--aws-sigv4',
      'aws:amz:us-east-1:s3',
      '--user',
      'S3RVER:S3RVER',
      '-H',
      'x-amz-content-sha256: UNSIGNED-PAYLOAD',
      '-T',
      file,
      `http://127.0.0.1:${port}/${TEST_BUCKET}/curl/run${n}.mkv`,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const t0 = performance.now();
  let last = { cpuS: 0, rss: 0, hwm: 0 };
  const timer = setInterval(() => {
    last = sample(p.pid as number) ?? last;
  }, 20);
  const code = await new Promise<number | null>((r) => p.once('exit', r));
  clearInterval(timer);
  if (code !== 0) throw new Error(`curl exited ${code}`);
  return { seconds: (performance.now() - t0) / 1000, cpuS: last.cpuS, rssGrowth: null };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return child(process.argv[3] as string, process.argv[4] as string);
  const mb = arg('mb', 60);
  const runs = arg('runs', 3);
  if (process.argv.includes('--daemon')) return daemonMode(runs);
  const server = await S3TestServer.start({ verify: false });
  const bytes = mb * 1_000_000;
  const gb = bytes / 1e9;
  console.log(`upload of a ${mb} MB segment to s3rver on loopback, ${runs} run(s) each`);
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'rearview-upload-bench-'));
    writeFileSync(join(dir, 'log0001.mkv'), randomBytes(bytes));
    copyFileSync(join(dir, 'log0001.mkv'), join(dir, 'log0002.mkv'));
    writeFileSync(join(dir, 'size'), String(bytes));
    const ours = await runOurs(dir, server.endpoint);
    const curl = await runCurl(join(dir, 'log0001.mkv'), server.port, i);
    const line = (name: string, r: Result): string =>
      `${name}: ${(bytes / 1e6 / r.seconds).toFixed(1)} MB/s, ${r.seconds.toFixed(2)} s, CPU ${(r.cpuS / gb).toFixed(2)} s/GB${r.rssGrowth === null ? '' : `, RSS growth ${(r.rssGrowth / 1e6).toFixed(1)} MB (again in the same process: ${((r.rssGrowthSecond ?? 0) / 1e6).toFixed(1)} MB)`}`;
    console.log(
      `run ${i + 1}: ${line('ours', ours)} | ${line('curl', curl)} | ours/curl time ${(ours.seconds / curl.seconds).toFixed(2)}, CPU ${(ours.cpuS / Math.max(0.01, curl.cpuS)).toFixed(2)}`,
    );
  }
  await server.stop();
}

await main();
