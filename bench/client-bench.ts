/**
 * Client library benchmark (run: `npx tsc -p . && node dist/bench/client-bench.js`).
 *
 * 1. Receive throughput of connect() on loopback: a server child process
 *    writes a camera-like 720p 8 Mbps 30 fps Annex-B stream (with an AUD
 *    after each frame, as `rearview serve` does) as fast as the socket takes
 *    it, REPEAT times; the library frames it into access units. Reported:
 *    access units/s, MB/s, and CPU seconds per GB of the client process.
 *    Peer in the same run: `ffmpeg -f h264 -i tcp://... -c copy -f null -`
 *    (the same framing job done by FFmpeg's parser), as a ratio.
 * 2. decode() frames per second (rgb24) at 640x360 and 1280x720 from a
 *    local stream, against `ffmpeg -f h264 -i FILE -f rawvideo -pix_fmt rgb24`
 *    writing to a pipe that is read and discarded, as a ratio.
 *
 * 3. Delivery latency from `rearview serve` (sample source, loopback): the
 *    capture time the daemon stamps (capture-time SEI) to the moment
 *    connect() hands the frame out, p50/p99 over 300 frames. The trailing AUD
 *    lets the library close each frame on arrival; without it a receiver waits
 *    a frame interval (33 ms) for the next frame to start.
 *
 * Inputs are generated with ffmpeg/libx264 into the OS temp folder (cached
 * between runs). Set REPEAT (default 25) to change the volume.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, decode } from '../src/client/index.js';

const FFMPEG = process.env.FFMPEG ?? '/usr/bin/ffmpeg';
const REPEAT = Number(process.env.REPEAT ?? 25);

function generate(name: string, size: string, bitrate: string, seconds: number): string {
  const file = join(tmpdir(), `rearview-client-bench-${name}.h264`);
  if (existsSync(file) && statSync(file).size > 0) return file;
  const r = spawnSync(
    FFMPEG,
    [
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=${size}:rate=30`,
      '-t',
      String(seconds),
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-profile:v',
      'high',
      '-bf',
      '0',
      '-b:v',
      bitrate,
      '-maxrate',
      bitrate,
      '-bufsize',
      bitrate,
      '-g',
      '30',
      '-keyint_min',
      '30',
      '-sc_threshold',
      '0',
      '-x264-params',
      'repeat-headers=1:aud=1',
      '-bsf:v',
      'h264_mp4toannexb',
      '-f',
      'h264',
      file,
    ],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) throw new Error('ffmpeg could not generate the bench input');
  return file;
}

/** A child process that serves `file` REPEAT times to each client, then closes. */
async function startServer(file: string, repeat: number): Promise<{ port: number; stop: () => void }> {
  const script = `
    const net = require('node:net'); const fs = require('node:fs');
    const bytes = fs.readFileSync(process.argv[1]); const repeat = Number(process.argv[2]);
    const server = net.createServer((s) => {
      let i = 0;
      const write = () => { while (i < repeat) { i++; if (!s.write(bytes)) return s.once('drain', write); } s.end(); };
      s.on('error', () => {}); write();
    });
    server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));`;
  const child = spawn(process.execPath, ['-e', script, file, String(repeat)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) =>
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
  );
  return { port, stop: () => child.kill() };
}

/** Runs a command under bash `times` (stdout piped through cat, like a reader) for wall time and CPU seconds. */
function timed(cmd: string, args: string[]): Promise<{ wallS: number; cpuS: number; stdoutBytes: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const quoted = [cmd, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = spawn('bash', ['-c', `${quoted} 2>/dev/null | cat >/dev/null; times >&2`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', () => {
      // `times` prints shell then children user/sys as "0m1.234s 0m0.123s".
      const lines = err.trim().split('\n');
      const kids = (lines.at(-1) ?? '').match(/(\d+)m([\d.]+)s/g) ?? [];
      const cpuS = kids.reduce((sum, t) => {
        const m = /(\d+)m([\d.]+)s/.exec(t);
        return sum + (m ? Number(m[1]) * 60 + Number(m[2]) : 0);
      }, 0);
      resolve({ wallS: (performance.now() - start) / 1000, cpuS, stdoutBytes: 0 });
    });
  });
}

async function receiveBench(file: string): Promise<void> {
  const bytesPerPass = statSync(file).size;
  const server = await startServer(file, REPEAT);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const conn = connect(`tcp://127.0.0.1:${server.port}`, { policy: 'all', reconnect: false, idleTimeoutMs: 0 });
  let aus = 0;
  let bytes = 0;
  try {
    for await (const frame of conn) {
      aus++;
      bytes += frame.data.length;
    }
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_CLIENT_CONNECT') throw err; // the server closes at the end
  }
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  server.stop();
  const received = conn.stats.bytesReceived;
  const gb = received / 1e9;
  const ours = { ausPerS: aus / wallS, mbPerS: received / 1e6 / wallS, cpuPerGb: (cpu.user + cpu.system) / 1e6 / gb };

  const peerServer = await startServer(file, REPEAT);
  const peer = await timed(FFMPEG, [
    '-v',
    'error',
    '-f',
    'h264',
    '-i',
    `tcp://127.0.0.1:${peerServer.port}`,
    '-c',
    'copy',
    '-f',
    'null',
    '-',
  ]);
  peerServer.stop();
  const peerMbPerS = (bytesPerPass * REPEAT) / 1e6 / peer.wallS;
  const peerCpuPerGb = peer.cpuS / ((bytesPerPass * REPEAT) / 1e9);
  console.log(`receive 720p 8 Mbps x${REPEAT} (${((bytesPerPass * REPEAT) / 1e6).toFixed(0)} MB over loopback):`);
  console.log(
    `  rearview connect(): ${ours.ausPerS.toFixed(0)} AU/s, ${ours.mbPerS.toFixed(0)} MB/s, ${ours.cpuPerGb.toFixed(2)} CPU s/GB (${aus} AUs, ${(bytes / 1e6).toFixed(0)} MB of frames)`,
  );
  console.log(`  ffmpeg -c copy -f null: ${peerMbPerS.toFixed(0)} MB/s, ${peerCpuPerGb.toFixed(2)} CPU s/GB`);
  console.log(
    `  ratio (ours/ffmpeg): throughput ${(ours.mbPerS / peerMbPerS).toFixed(2)}x, CPU per GB ${(ours.cpuPerGb / peerCpuPerGb).toFixed(2)}x`,
  );
}

async function decodeBench(label: string, file: string, width: number, height: number): Promise<void> {
  const bytes = readFileSync(file);
  // Serve the file once; decode() pulls frames as fast as ffmpeg decodes them.
  const server = createServer((s) => s.end(bytes));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const t0 = performance.now();
  let frames = 0;
  try {
    for await (const f of decode(connect(`tcp://127.0.0.1:${port}`, { policy: 'all', reconnect: false }), {
      format: 'rgb24',
      ffmpegPath: FFMPEG,
    })) {
      if (f.width !== width || f.height !== height) throw new Error('unexpected size');
      frames++;
    }
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_CLIENT_CONNECT') throw err;
  }
  const wallS = (performance.now() - t0) / 1000;
  server.close();
  const peer = await timed(FFMPEG, [
    '-v',
    'error',
    '-f',
    'h264',
    '-i',
    file,
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
  ]);
  const peerFrames = frames; // same file, same frames
  const ours = frames / wallS;
  const theirs = peerFrames / peer.wallS;
  console.log(
    `decode() rgb24 ${label}: ${ours.toFixed(0)} fps (${frames} frames); ffmpeg to a pipe: ${theirs.toFixed(0)} fps; ratio ${(ours / theirs).toFixed(2)}x`,
  );
}

async function latencyBench(): Promise<void> {
  const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
  const child = spawn(
    process.execPath,
    [
      cli,
      'serve',
      '--stream-port',
      '0',
      '--api-port',
      '0',
      '--no-record',
      '--no-mdns',
      '--bind',
      '127.0.0.1',
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let text = '';
      child.stdout.on('data', (d: Buffer) => {
        text += d.toString();
        const m = /stream listening on tcp:\/\/[^\s]+:(\d+)/.exec(text);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', () => reject(new Error('rearview serve exited')));
    });
    const lat: number[] = [];
    // Sub-millisecond wall clock: Date.now() counts whole ms.
    const clock = (): number => performance.timeOrigin + performance.now();
    for await (const f of connect(`tcp://127.0.0.1:${port}`, { policy: 'latest', clock })) {
      // Skip the join burst (the cached GOP is sent at once): measure live frames only.
      if (f.seq >= 30 && f.capturedAtMs !== undefined) lat.push(f.receivedAtMs - f.capturedAtMs);
      if (lat.length === 300) break;
    }
    lat.sort((a, b) => a - b);
    const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
    console.log(
      `delivery latency, rearview serve capture stamp -> connect() frame (loopback, 300 frames): p50 ${q(0.5).toFixed(2)} ms, p99 ${q(0.99).toFixed(2)} ms, max ${(lat.at(-1) ?? NaN).toFixed(2)} ms`,
    );
  } finally {
    child.kill();
  }
}

const hd = generate('720p-8M', '1280x720', '8M', 20);
const sd = generate('360p-1M', '640x360', '1M', 20);
writeFileSync(join(tmpdir(), 'rearview-client-bench.last'), new Date().toISOString());
console.log(`node ${process.version}, ffmpeg ${FFMPEG}`);
await receiveBench(hd);
await decodeBench('640x360', sd, 640, 360);
await decodeBench('1280x720', hd, 1280, 720);
await latencyBench();
