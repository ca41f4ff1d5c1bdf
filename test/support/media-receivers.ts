/**
 * Real media servers for the publishing tests: ffmpeg listening as an RTSP
 * server (ANNOUNCE/RECORD), an RTMP server and an SRT listener, each
 * decoding what it receives (`-f null`) and reporting decoded frames
 * (`-progress`) and every error line; stunnel as a TLS terminator in front
 * of one of them; free ports to put them on.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { requireTool } from './tools.js';

/** A receiving ffmpeg. */
export interface MediaReceiver {
  process: ChildProcessWithoutNullStreams;
  /** Frames decoded so far (from -progress). */
  frames(): number;
  /** Every line ffmpeg wrote on stderr at level error (decode errors included). */
  errors: string[];
  exited: Promise<number | string>;
  /** SIGKILL (a server that dies), resolves when it has exited. */
  kill(): Promise<void>;
}

/** The SRT passphrase the tests use (10 to 79 characters). */
export const SRT_PASSPHRASE = 'rearview-test-passphrase';

/** The URL a receiver of `kind` listens on (what the camera publishes to, apart from credentials). */
export function receiverUrl(kind: 'rtsp' | 'rtmp' | 'srt', port: number): string {
  if (kind === 'rtsp') return `rtsp://127.0.0.1:${port}/live/cam`;
  if (kind === 'rtmp') return `rtmp://127.0.0.1:${port}/live/cam`;
  return `srt://127.0.0.1:${port}?passphrase=${SRT_PASSPHRASE}`;
}

/** Starts ffmpeg listening for one publisher of `kind` on 127.0.0.1:port, decoding to nothing. */
export function startReceiver(kind: 'rtsp' | 'rtmp' | 'srt', port: number): MediaReceiver {
  const ffmpeg = requireTool('ffmpeg');
  const input =
    kind === 'rtsp'
      ? ['-rtsp_flags', 'listen', '-i', receiverUrl('rtsp', port)]
      : kind === 'rtmp'
        ? ['-listen', '1', '-i', receiverUrl('rtmp', port)]
        : ['-i', `srt://127.0.0.1:${port}?mode=listener&passphrase=${SRT_PASSPHRASE}`];
  // Decoded frames timestamped at 90 kHz: the null muxer's default 1/fps time base complains of
  // capture-time jitter (two frames in one tick), which says nothing about the stream.
  const child = spawn(
    ffmpeg,
    [
      '-hide_banner',
      '-nostdin',
      '-v',
      'error',
      '-progress',
      'pipe:1',
      '-stats_period',
      '0.2',
      ...input,
      '-fps_mode',
      'passthrough',
      '-enc_time_base',
      '1:90000',
      '-f',
      'null',
      '-',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let frames = 0;
  const errors: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const m = /^frame=(\d+)/.exec(line);
    if (m) frames = Number(m[1]);
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    if (line.trim() !== '') errors.push(line);
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return {
    process: child,
    frames: () => frames,
    errors,
    exited,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A TCP port free at the time of asking. */
export async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A UDP port free at the time of asking (SRT). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** A TLS terminator: stunnel accepting TLS on `acceptPort` with `cert`/`key`, forwarding to `connectPort`. */
export async function startStunnel(
  dir: string,
  acceptPort: number,
  connectPort: number,
  cert: string,
  key: string,
): Promise<{ close(): Promise<void>; log: string[] }> {
  const stunnel = requireTool('stunnel');
  const conf = join(dir, `stunnel-${acceptPort}.conf`);
  writeFileSync(
    conf,
    [
      'foreground = yes',
      'pid =',
      '[publish]',
      `accept = 127.0.0.1:${acceptPort}`,
      `connect = 127.0.0.1:${connectPort}`,
      `cert = ${cert}`,
      `key = ${key}`,
      '',
    ].join('\n'),
  );
  const child = spawn(stunnel, [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const onLine = (line: string): void => {
      log.push(line);
      if (/Configuration successful/.test(line)) resolve();
    };
    createInterface({ input: child.stderr }).on('line', onLine);
    createInterface({ input: child.stdout }).on('line', onLine);
    void exited.then(() => reject(new Error(`stunnel exited before it was ready:\n${log.join('\n')}`)));
  });
  return {
    log,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A CA and a server certificate for 127.0.0.1 signed by it, plus an unrelated CA, made with openssl. */
export async function makeTestCertificates(dir: string): Promise<{
  ca: string;
  cert: string;
  key: string;
  otherCa: string;
}> {
  const openssl = requireTool('openssl');
  const run = (args: string[]): Promise<void> =>
    new Promise((resolve, reject) => {
      const child = spawn(openssl, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`openssl ${args[0]}: ${err}`))));
    });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=rearview test CA',
  ]);
  await run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  await run([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  ]);
  await run([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'other.key',
    '-out',
    'other.pem',
    '-days',
    '2',
    '-subj',
    '/CN=other CA',
  ]);
  return {
    ca: join(dir, 'ca.pem'),
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server.key'),
    otherCa: join(dir, 'other.pem'),
  };
}

/** A WHIP endpoint (whip-receiver.ts, its own process) and the ffmpeg decoding what it receives. */
export interface WhipReceiver extends MediaReceiver {
  /** The endpoint URL (http://127.0.0.1:PORT/whip/cam); publish to it as whip+http://... */
  endpoint: string;
  /** The endpoint's event lines so far (offer, unauthorized, connected, pli-sent, deleted N). */
  events: string[];
  /** Asks the publisher for a keyframe (RTCP PLI). */
  pli(): void;
}

/**
 * Starts ffmpeg reading H.264 RTP on a free UDP port (an SDP file says what
 * comes) and a WHIP endpoint on `httpPort` forwarding what it receives
 * there; resolves once the endpoint listens. kill() ends both.
 */
export async function startWhipReceiver(httpPort: number, dir: string, token?: string): Promise<WhipReceiver> {
  const ffmpeg = requireTool('ffmpeg');
  const rtpPort = await freeUdpPort();
  const sdp = join(dir, `whip-${httpPort}-${rtpPort}.sdp`);
  writeFileSync(
    sdp,
    [
      'v=0',
      'o=- 0 0 IN IP4 127.0.0.1',
      's=whip',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=video ${rtpPort} RTP/AVP 96`,
      'a=rtpmap:96 H264/90000',
      'a=fmtp:96 packetization-mode=1',
      '',
    ].join('\n'),
  );
  const decoder = spawn(
    ffmpeg,
    [
      ...['-hide_banner', '-nostdin', '-v', 'error', '-progress', 'pipe:1', '-stats_period', '0.2'],
      ...['-protocol_whitelist', 'file,udp,rtp', '-buffer_size', '4194304', '-i', sdp],
      ...['-fps_mode', 'passthrough', '-enc_time_base', '1:90000', '-f', 'null', '-'],
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let frames = 0;
  const errors: string[] = [];
  createInterface({ input: decoder.stdout }).on('line', (line) => {
    const m = /^frame=(\d+)/.exec(line);
    if (m) frames = Number(m[1]);
  });
  createInterface({ input: decoder.stderr }).on('line', (line) => {
    if (line.trim() !== '') errors.push(line);
  });
  const decoderExited = new Promise<number | string>((resolve) =>
    decoder.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const script = fileURLToPath(new URL('./whip-receiver.js', import.meta.url));
  const endpoint = spawn(process.execPath, [script, String(httpPort), String(rtpPort), ...(token ? [token] : [])], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const events: string[] = [];
  const endpointExited = new Promise<number | string>((resolve) =>
    endpoint.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  createInterface({ input: endpoint.stderr }).on('line', (line) => {
    if (line.trim() !== '') errors.push(`whip endpoint: ${line}`);
  });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: endpoint.stdout }).on('line', (line) => {
      events.push(line);
      if (line === 'listening') resolve();
    });
    void endpointExited.then((code) => reject(new Error(`the WHIP endpoint exited (${code}): ${errors.join('\n')}`)));
  });
  const killOne = async (child: ChildProcessWithoutNullStreams, exited: Promise<unknown>): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  return {
    process: endpoint,
    endpoint: `http://127.0.0.1:${httpPort}/whip/cam`,
    frames: () => frames,
    errors,
    events,
    exited: endpointExited,
    pli: () => endpoint.stdin.write('pli\n'),
    kill: async () => {
      await Promise.all([killOne(endpoint, endpointExited), killOne(decoder, decoderExited)]);
    },
  };
}
