/**
 * Cost of publishing (issue 18): `rearview serve` playing a 720p30 8 Mbit/s
 * stream with 0, 1 and 3 publishers (`--publish rtsp://...`, each an ffmpeg
 * child remuxing to a real RTSP server), beside the peer tool doing the same
 * job alone: `ffmpeg -re -stream_loop -1 -i FILE.mkv -c copy -f rtsp ...`
 * pushing the same stream (the raw file copied into Matroska, which ffmpeg
 * can loop) to the same kind of receiver, in the same run.
 *
 * Figures: CPU of the daemon's process tree (the daemon and its ffmpeg
 * children, user+system from /proc) as a percentage of one core over the
 * measured window, the tree's RSS (sum of VmRSS) at the end of the window,
 * and the same for the peer ffmpeg. The receivers (ffmpeg -rtsp_flags
 * listen, copying to nothing) are not measured.
 *
 * With `--kind whip` each publisher is a WHIP target (`--publish whip+http://...`, node-datachannel
 * in the daemon, no ffmpeg child) sending to its own WHIP endpoint (test/support/whip-receiver.ts,
 * built: dist/test/support/whip-receiver.js) whose RTP an ffmpeg copies to nothing; the peer row is
 * still the RTSP one (ffmpeg 5.1 has no WHIP muxer), for scale.
 *
 * Usage: node dist/bench/publish-bench.js [--seconds 20] [--warmup-seconds 10] [--publishers 0,1,3] [--kind rtsp|whip]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
function arg(name: string, fallback: string): string {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? (argv[i + 1] as string) : fallback;
}
const FFMPEG = '/usr/bin/ffmpeg';
const seconds = Number(arg('--seconds', '20'));
const warmupSeconds = Number(arg('--warmup-seconds', '10'));
const counts = arg('--publishers', '0,1,3').split(',').map(Number);
const kind = arg('--kind', 'rtsp');
if (kind !== 'rtsp' && kind !== 'whip') throw new Error('--kind must be rtsp or whip');
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** 10 s of 1280x720 30 fps High at 8 Mbit/s, SPS/PPS before every IDR, one IDR per second, no B-frames. */
function makeInput(): string {
  const path = join(tmpdir(), 'rearview-bench-720p-8M-10s.h264');
  if (existsSync(path)) return path;
  process.stderr.write(`generating ${path} with ffmpeg...\n`);
  execFileSync(FFMPEG, [
    ...['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-t', '10'],
    ...['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'high', '-bf', '0'],
    ...['-b:v', '8M', '-maxrate', '8M', '-bufsize', '8M', '-g', '30', '-keyint_min', '30', '-sc_threshold', '0'],
    ...['-x264-params', 'repeat-headers=1', '-bsf:v', 'h264_mp4toannexb', '-f', 'h264', path],
  ]);
  return path;
}

/**
 * The same stream in Matroska (copied, not re-encoded) for the peer: ffmpeg cannot loop a raw
 * .h264 file (`-stream_loop` seeks, and the raw demuxer cannot: "Operation not permitted").
 */
function loopable(input: string): string {
  const path = input.replace(/\.h264$/, '.mkv');
  if (!existsSync(path))
    execFileSync(FFMPEG, ['-v', 'error', '-y', '-f', 'h264', '-framerate', '30', '-i', input, '-c', 'copy', path]);
  return path;
}

/** user+system CPU ticks, RSS kB and parent of a process (undefined when it is gone). */
function proc(pid: number): { ticks: number; rssKb: number; pssKb: number; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    // PSS shares each shared page among the processes mapping it: ffmpeg's many shared libraries
    // count once across the tree instead of once per process.
    const pssKb = Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    return { ticks: Number(fields[11]) + Number(fields[12]), rssKb, pssKb, ppid: Number(fields[1]) };
  } catch {
    return undefined; // exited between listing and reading
  }
}

/** The process and all its descendants. */
function tree(root: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = proc(Number(name));
    if (p) parents.set(Number(name), p.ppid);
  }
  const out = [root];
  for (let i = 0; i < out.length; i++)
    for (const [pid, ppid] of parents) if (ppid === out[i] && !out.includes(pid)) out.push(pid);
  return out;
}

/** CPU ticks (children that exited are counted by the kernel in the parent's cutime; not needed here). */
function treeFigures(root: number): { ticks: number; rssKb: number; pssKb: number; processes: number } {
  let ticks = 0;
  let rssKb = 0;
  let pssKb = 0;
  const pids = tree(root);
  for (const pid of pids) {
    const p = proc(pid);
    if (!p) continue;
    ticks += p.ticks;
    rssKb += p.rssKb;
    pssKb += p.pssKb;
  }
  return { ticks, rssKb, pssKb, processes: pids.length };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function receiver(port: number): ChildProcess {
  return spawn(
    FFMPEG,
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

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A WHIP endpoint on `port` and the ffmpeg copying its RTP to nothing (two processes, not measured). */
async function whipReceiver(port: number): Promise<ChildProcess[]> {
  const rtpPort = await freeUdpPort();
  const sdp = join(mkdtempSync(join(tmpdir(), 'rearview-bench-whip-')), 'in.sdp');
  writeFileSync(
    sdp,
    `v=0\no=- 0 0 IN IP4 127.0.0.1\ns=whip\nc=IN IP4 127.0.0.1\nt=0 0\nm=video ${rtpPort} RTP/AVP 96\na=rtpmap:96 H264/90000\na=fmtp:96 packetization-mode=1\n`,
  );
  const ff = spawn(
    FFMPEG,
    [
      '-v',
      'error',
      '-protocol_whitelist',
      'file,udp,rtp',
      '-buffer_size',
      '8388608',
      '-i',
      sdp,
      '-c',
      'copy',
      '-f',
      'null',
      '-',
    ],
    { stdio: 'ignore' },
  );
  const script = fileURLToPath(new URL('../test/support/whip-receiver.js', import.meta.url));
  const endpoint = spawn(process.execPath, [script, String(port), String(rtpPort)], {
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  return [ff, endpoint];
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

/** Measures `root`'s tree over `seconds` after warm-up. */
interface Figures {
  cpuPercent: number;
  rssMb: number;
  pssMb: number;
  processes: number;
}

async function measure(root: number): Promise<Figures> {
  await sleep(warmupSeconds * 1000);
  const a = treeFigures(root);
  const start = performance.now();
  await sleep(seconds * 1000);
  const b = treeFigures(root);
  const elapsedS = (performance.now() - start) / 1000;
  return {
    cpuPercent: ((b.ticks - a.ticks) / 100 / elapsedS) * 100,
    rssMb: b.rssKb / 1024,
    pssMb: b.pssKb / 1024,
    processes: b.processes,
  };
}

async function ours(input: string, n: number): Promise<Figures & { publishing: number }> {
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
  const receivers = kind === 'whip' ? (await Promise.all(ports.map(whipReceiver))).flat() : ports.map(receiver);
  await sleep(300);
  const apiPort = await freePort();
  const daemon = spawn(
    process.execPath,
    [
      cli,
      'serve',
      ...['--source', `file:${input}`, '--no-record', '--no-mdns', '--stream-port', '0', '--api-port', String(apiPort)],
      ...['--bind', '127.0.0.1', '--log-level', 'warn'],
      ...ports.flatMap((p) => [
        '--publish',
        kind === 'whip' ? `whip+http://127.0.0.1:${p}/whip/cam` : `rtsp://127.0.0.1:${p}/live/cam`,
      ]),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const figures = await measure(daemon.pid as number);
  let publishing = 0;
  try {
    const status = (await (await fetch(`http://127.0.0.1:${apiPort}/api/v1/status`)).json()) as {
      publish: Array<{ state: string; framesDropped: number }>;
    };
    publishing = status.publish.filter((p) => p.state === 'publishing').length;
  } catch (err) {
    process.stderr.write(`status: ${(err as Error).message}\n`);
  }
  await stop(daemon);
  await Promise.all(receivers.map(stop));
  return { ...figures, publishing };
}

async function peer(input: string): Promise<Figures> {
  const port = await freePort();
  const r = receiver(port);
  // The receiver may not listen yet on a loaded machine: start the peer again until it stays up.
  let ff: ChildProcess;
  for (;;) {
    await sleep(500);
    ff = spawn(
      FFMPEG,
      [
        ...['-nostdin', '-v', 'error', '-re', '-stream_loop', '-1', '-i', loopable(input)],
        ...['-c', 'copy', '-f', 'rtsp', '-rtsp_transport', 'tcp', `rtsp://127.0.0.1:${port}/live/cam`],
      ],
      { stdio: 'ignore' },
    );
    await sleep(2000);
    if (ff.exitCode === null && ff.signalCode === null) break;
  }
  const figures = await measure(ff.pid as number);
  await stop(ff);
  await stop(r);
  return figures;
}

async function main(): Promise<void> {
  const input = makeInput();
  process.stdout.write(
    `publish bench: 720p30 8 Mbit/s file, ${warmupSeconds} s warm-up, ${seconds} s measured, ${kind === 'whip' ? 'WHIP endpoints (node-datachannel, RTP to ffmpeg -c copy)' : 'RTSP receivers (ffmpeg -rtsp_flags listen)'}\n`,
  );
  const rows: string[] = [
    '| what | publishing | processes | CPU % of one core | tree RSS MB | tree PSS MB |',
    '|---|---|---|---|---|---|',
  ];
  for (const n of counts) {
    const f = await ours(input, n);
    rows.push(
      `| rearview serve, ${n} ${kind.toUpperCase()} publisher(s) | ${f.publishing}/${n} | ${f.processes} | ${f.cpuPercent.toFixed(1)} | ${f.rssMb.toFixed(1)} | ${f.pssMb.toFixed(1)} |`,
    );
  }
  const p = await peer(input);
  rows.push(
    `| ffmpeg -re -stream_loop -1 -i FILE.mkv -c copy -f rtsp (peer) | 1/1 | ${p.processes} | ${p.cpuPercent.toFixed(1)} | ${p.rssMb.toFixed(1)} | ${p.pssMb.toFixed(1)} |`,
  );
  process.stdout.write(`${rows.join('\n')}\n`);
}

await main();
