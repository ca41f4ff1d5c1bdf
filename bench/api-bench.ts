/**
 * HTTP API under load, with the daemon doing its real work: `rearview serve`
 * (in its own process) streams the 1 Mbit/s 640x360 sample to a connected
 * TCP client and records it, over a recordings folder of 900 segments.
 *
 * 1. Requests per second and p99 latency of GET /api/v1/status and
 *    GET /list-local-videos (16 keep-alive connections, 5 s each), beside
 *    the peer: a bare node:http server answering the same list JSON from
 *    memory in its own process (the ceiling for any Node server).
 * 2. Daemon RSS while 10 clients download different 30 s 720p 8 Mbit/s
 *    segments as MP4 at once (each a fresh conversion), beside the peer:
 *    10 concurrent `ffmpeg -c copy` remuxes to fragmented MP4 (summed RSS).
 *
 * Generated files go to the OS temp folder. Run: `node dist/bench/api-bench.js`
 * (optional `--seconds N` per endpoint).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ensureCameraStream, findFfmpeg } from './camera-stream.js';

const secondsArg = process.argv.indexOf('--seconds');
const RUN_SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 5;
const CONCURRENCY = 16;
const SEGMENTS = 900;
const DOWNLOADS = 10;
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const ffmpeg = findFfmpeg();

function run(args: string[]): void {
  const r = spawnSync(ffmpeg, ['-v', 'error', '-y', ...args]);
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${r.stderr}`);
}

/** 900 small segments (+ thumbnails) and 10 big ones, made once from generated video. */
function prepareFolder(root: string): { rec: string; big: string[] } {
  const rec = join(root, 'standalone_videos');
  rmSync(rec, { recursive: true, force: true });
  mkdirSync(rec, { recursive: true });
  const small = join(root, 'small.mkv');
  const thumb = join(root, 'small.jpg');
  if (!existsSync(small))
    run([
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x180:rate=30',
      '-t',
      '1',
      '-c:v',
      'libx264',
      '-bf',
      '0',
      '-g',
      '30',
      '-pix_fmt',
      'yuv420p',
      small,
    ]);
  if (!existsSync(thumb)) run(['-i', small, '-frames:v', '1', thumb]);
  const t0 = Math.floor(Date.now() / 1000) - SEGMENTS * 60 - 3600;
  for (let i = 1; i <= SEGMENTS; i++) {
    const name = `log${String(i).padStart(4, '0')}`;
    copyFileSync(small, join(rec, `${name}.mkv`));
    copyFileSync(thumb, join(rec, `${name}_${t0 + i * 60}.jpg`));
    utimesSync(join(rec, `${name}.mkv`), t0 + i * 60 + 60, t0 + i * 60 + 60);
  }
  const bigSrc = join(root, 'big.mkv');
  if (!existsSync(bigSrc))
    run([
      '-f',
      'h264',
      '-framerate',
      '30',
      '-i',
      ensureCameraStream({ seconds: 40, minBytes: 30 * 1024 * 1024 }),
      '-t',
      '30',
      '-c',
      'copy',
      bigSrc,
    ]);
  // The big ones are the 10 oldest names, so rotation would delete them last.
  const big: string[] = [];
  for (let i = 1; i <= DOWNLOADS; i++) {
    const name = `log${String(i).padStart(4, '0')}.mkv`;
    copyFileSync(bigSrc, join(rec, name));
    utimesSync(join(rec, name), t0 + i * 60 + 60, t0 + i * 60 + 60);
    big.push(name);
  }
  return { rec, big };
}

function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Summed RSS of a process's children (the daemon's MP4 converter processes), KB. */
function childrenRssKb(pid: number): number {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.reduce((sum, k) => sum + rssKb(Number(k)), 0);
  } catch {
    return 0;
  }
}

function waitForLine(child: ChildProcess, re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const on = (c: Buffer): void => {
      buf += c.toString();
      const m = re.exec(buf);
      if (m) {
        child.stdout?.off('data', on);
        resolve(m);
      }
    };
    child.stdout?.on('data', on);
    child.on('exit', (code) => reject(new Error(`exited ${code} before printing ${re}: ${buf}`)));
  });
}

interface LoadResult {
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  bytes: number;
}

async function load(url: string, seconds: number): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies: number[] = [];
  let errors = 0;
  let bytes = 0;
  const end = performance.now() + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        get(url, { agent }, (res) => {
          res.on('data', (c: Buffer) => (bytes += c.length));
          res.on('end', () => {
            if (res.statusCode !== 200) errors++;
            latencies.push(performance.now() - t0);
            resolve();
          });
        }).on('error', () => {
          errors++;
          resolve();
        });
      });
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN;
  return {
    requests: latencies.length,
    rps: latencies.length / elapsed,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    errors,
    bytes,
  };
}

function fmt(r: LoadResult): string {
  return `${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  (${r.requests} requests, ${r.errors} errors, ${(r.bytes / r.requests / 1024).toFixed(1)} KiB each)`;
}

/** The peer: a bare node:http server in its own process answering `body` from memory. */
async function startPeer(bodyFile: string): Promise<{ child: ChildProcess; url: string }> {
  const code = `const b=require('fs').readFileSync(${JSON.stringify(bodyFile)});require('http').createServer((q,s)=>{s.writeHead(200,{'content-type':'application/json','content-length':b.length});s.end(b)}).listen(0,'127.0.0.1',function(){console.log('peer on '+this.address().port)})`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const m = await waitForLine(child, /peer on (\d+)/);
  return { child, url: `http://127.0.0.1:${m[1]}/` };
}

async function download(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`${url}: ${res.statusCode}`))));
    }).on('error', reject);
  });
}

async function main(): Promise<void> {
  const root = join(tmpdir(), 'rearview-api-bench');
  mkdirSync(root, { recursive: true });
  console.log(`preparing ${SEGMENTS} segments and ${DOWNLOADS} 30 s 720p segments in ${root} ...`);
  const { rec, big } = prepareFolder(root);

  const daemon = spawn(
    process.execPath,
    [
      cli,
      'serve',
      '--stream-port',
      '0',
      '--api-port',
      '0',
      '--bind',
      '127.0.0.1',
      '--recordings',
      rec,
      '--max-files',
      '5000',
      '--min-free',
      '0',
      '--min-free-percent',
      '0',
      '--no-mdns',
      '--log-level',
      'warn',
      '--max-downloads',
      String(DOWNLOADS),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let peer: ChildProcess | undefined;
  try {
    // serve prints the stream line, then the api line: wait for both at once.
    const both = await waitForLine(
      daemon,
      /stream listening on tcp:\/\/[^\s]*:(\d+)\s+api listening on (http:\/\/[^\s]+)/,
    );
    const base = both[2] as string;
    // A live client on port 5000 consuming the 1 Mbit/s stream while we measure.
    let streamBytes = 0;
    const streamPort = Number(both[1]);
    const client = streamPort ? connect(streamPort, '127.0.0.1') : undefined;
    client?.on('data', (c: Buffer) => (streamBytes += c.length));
    client?.on('error', () => undefined);

    // Warm-up: the first list reads 900 Matroska headers, later ones hit the library's cache.
    await download(`${base}/list-local-videos`);
    await download(`${base}/api/v1/status`);

    console.log(
      `\nload: ${CONCURRENCY} keep-alive connections, ${RUN_SECONDS} s per endpoint, ${SEGMENTS}+ segments, stream and recording running`,
    );
    const status = await load(`${base}/api/v1/status`, RUN_SECONDS);
    console.log(`GET /api/v1/status            ${fmt(status)}`);
    const list = await load(`${base}/list-local-videos`, RUN_SECONDS);
    console.log(`GET /list-local-videos        ${fmt(list)}`);
    const v1list = await load(`${base}/api/v1/recordings`, RUN_SECONDS);
    console.log(`GET /api/v1/recordings        ${fmt(v1list)}`);

    const bodyFile = join(root, 'list.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      bodyFile,
      await new Promise<Buffer>((resolve) =>
        get(`${base}/list-local-videos`, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks)));
        }),
      ),
    );
    const p = await startPeer(bodyFile);
    peer = p.child;
    const peerList = await load(p.url, RUN_SECONDS);
    console.log(`peer: bare node:http, same JSON ${fmt(peerList)}`);
    console.log(
      `ratio /list-local-videos vs bare node:http: ${(list.rps / peerList.rps).toFixed(2)}x req/s, p99 ${(list.p99Ms / peerList.p99Ms).toFixed(2)}x`,
    );
    console.log(
      `stream client received ${(streamBytes / 1e6).toFixed(1)} MB during the run (${((streamBytes * 8) / 1e6 / (RUN_SECONDS * 4)).toFixed(2)} Mbit/s)`,
    );

    // 10 concurrent MP4 downloads, each a fresh conversion.
    const pid = daemon.pid as number;
    const rssBefore = rssKb(pid);
    let rssPeak = rssBefore;
    let kidsPeak = 0;
    let totalPeak = rssBefore;
    const sampler = setInterval(() => {
      const own = rssKb(pid);
      const kids = childrenRssKb(pid);
      rssPeak = Math.max(rssPeak, own);
      kidsPeak = Math.max(kidsPeak, kids);
      totalPeak = Math.max(totalPeak, own + kids);
    }, 20);
    const t0 = performance.now();
    const sizes = await Promise.all(
      big.map((name) =>
        download(`${base}/api/v1/recordings/${name.replace('.mkv', '.mp4')}`).catch((e: Error) => {
          console.log(`download failed: ${e.message}`);
          return 0;
        }),
      ),
    );
    const wallS = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const totalMb = sizes.reduce((a, b) => a + b, 0) / 1e6;
    console.log(`\n${DOWNLOADS} concurrent MP4 downloads (30 s 720p 8 Mbit/s each, --max-downloads ${DOWNLOADS}):`);
    const ok = sizes.filter((s) => s > 0).length;
    console.log(
      `  ours: ${ok} served, ${totalMb.toFixed(1)} MB in ${wallS.toFixed(2)} s; daemon RSS ${(rssBefore / 1024).toFixed(0)} MB before, peak ${(rssPeak / 1024).toFixed(0)} MB (+${((rssPeak - rssBefore) / 1024).toFixed(0)} MB)`,
    );
    console.log(
      `  ours: converter child processes summed peak RSS ${(kidsPeak / 1024).toFixed(0)} MB; daemon + converters peak ${(totalPeak / 1024).toFixed(0)} MB (+${((totalPeak - rssBefore) / 1024).toFixed(0)} MB)`,
    );

    // Peer: 10 concurrent ffmpeg remuxes, summed RSS.
    const bigPath = join(rec, big[0] as string);
    const kids = Array.from({ length: DOWNLOADS }, () =>
      spawn(
        ffmpeg,
        ['-v', 'error', '-i', bigPath, '-c', 'copy', '-movflags', 'frag_keyframe+empty_moov', '-f', 'mp4', 'pipe:1'],
        { stdio: ['ignore', 'pipe', 'ignore'] },
      ),
    );
    let peerPeak = 0;
    const t1 = performance.now();
    const peerSampler = setInterval(
      () =>
        (peerPeak = Math.max(
          peerPeak,
          kids.reduce((s, k) => s + rssKb(k.pid as number), 0),
        )),
      20,
    );
    await Promise.all(
      kids.map(
        (k) =>
          new Promise<void>((resolve) => {
            k.stdout?.resume();
            k.on('close', () => resolve());
          }),
      ),
    );
    clearInterval(peerSampler);
    console.log(
      `  peer: ${DOWNLOADS} concurrent ffmpeg -c copy remuxes: ${((performance.now() - t1) / 1000).toFixed(2)} s, summed peak RSS ${(peerPeak / 1024).toFixed(0)} MB`,
    );
    console.log(
      `  ratio: daemon RSS growth / ffmpeg summed RSS = ${((rssPeak - rssBefore) / Math.max(1, peerPeak)).toFixed(2)}x`,
    );
    client?.destroy();
  } finally {
    peer?.kill();
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
  }
}

await main();
