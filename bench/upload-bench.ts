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
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { S3TestServer, TEST_BUCKET } from '../test/support/s3-server.js';

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
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  await up.close();
}

interface Result {
  seconds: number;
  cpuS: number;
  rssGrowth: number | null;
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
  p.stdin.end('bye\n');
  await new Promise((r) => p.once('exit', r));
  if (done.uploaded !== 1) throw new Error(`upload failed: ${JSON.stringify(done.error)}`);
  return { seconds, cpuS: last.cpuS - before.cpuS, rssGrowth: last.hwm - before.rss };
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
  const server = await S3TestServer.start({ verify: false });
  const bytes = mb * 1_000_000;
  const gb = bytes / 1e9;
  console.log(`upload of a ${mb} MB segment to s3rver on loopback, ${runs} run(s) each`);
  for (let i = 0; i < runs; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'rearview-upload-bench-'));
    writeFileSync(join(dir, 'log0001.mkv'), randomBytes(bytes));
    writeFileSync(join(dir, 'size'), String(bytes));
    const ours = await runOurs(dir, server.endpoint);
    const curl = await runCurl(join(dir, 'log0001.mkv'), server.port, i);
    const line = (name: string, r: Result): string =>
      `${name}: ${(bytes / 1e6 / r.seconds).toFixed(1)} MB/s, ${r.seconds.toFixed(2)} s, CPU ${(r.cpuS / gb).toFixed(2)} s/GB${r.rssGrowth === null ? '' : `, RSS growth ${(r.rssGrowth / 1e6).toFixed(1)} MB`}`;
    console.log(
      `run ${i + 1}: ${line('ours', ours)} | ${line('curl', curl)} | ours/curl time ${(ours.seconds / curl.seconds).toFixed(2)}, CPU ${(ours.cpuS / Math.max(0.01, curl.cpuS)).toFixed(2)}`,
    );
  }
  await server.stop();
}

await main();
