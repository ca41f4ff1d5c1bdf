/**
 * The abuse suite: attacks that must keep failing, run against a real
 * `rearview serve` child on loopback (`npm run test:abuse`; they also run in
 * `npm test`). Each test file covers one family: path traversal shapes,
 * planted symlinks, cross-site requests, DNS rebinding, token guessing,
 * request smuggling, oversized requests, slowloris, connection storms,
 * WebSocket/Upgrade abuse, garbage H.264 on standard input.
 *
 * Rules for every case: loops are bounded in count and time; targets are
 * only 127.0.0.1 (or ::1); the whole suite stays within about two minutes on
 * a 2-core machine. An attack "holds" when the answer leaks nothing
 * ({@link leaks}), nothing outside the recordings folder changed
 * ({@link AbuseDaemon.secretsIntact}), and the daemon still serves
 * ({@link AbuseDaemon.assertServing}). Each file starts its own daemon.
 *
 * Adding a route: cross-site.test.ts compares the daemon's OpenAPI
 * document with {@link COVERED_ROUTES} and fails for a route not listed
 * there. List it with its kind. Destructive routes and every route's Host
 * check are then tested from the document (cross-site.test.ts,
 * dns-rebinding.test.ts); a `file` route also needs its lines in
 * path-traversal.test.ts and planted-symlinks.test.ts; a route that reads
 * a body, in oversized-requests.test.ts.
 *
 * This module starts the daemon with a recordings folder of real segments
 * and a scratch folder around it holding "secret" files (named like
 * recordings, so only the folder check can refuse them), and sends raw
 * bytes over sockets, so requests no HTTP client would send can be sent.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { makeRecordings } from '../api/api-harness.js';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';

/**
 * How long a daemon may take to report its ports. Longer than the usual
 * 20 s: the suite starts a dozen daemons, often beside other test files.
 */
export const START_TIMEOUT_MS = 60_000;

/** Marker in every secret file; an answer containing it leaked one. */
export const SECRET_MARKER = 'ABUSE-SECRET-7f3a91';

/** Names of the secret files (outside the recordings folder, named like recordings). */
export const SECRET_NAMES = {
  /** In the scratch folder, the recordings folder's parent. */
  parentMkv: 'log0098.mkv',
  parentJpg: 'log0098_1713198998.jpg',
  /** In scratch/outside, a sibling of the recordings folder. */
  outsideMkv: 'log0099.mkv',
  outsideJpg: 'log0099_1713198999.jpg',
} as const;

/** What a route does with its argument, for the coverage table. */
/**
 * `live` opens or ends a live view (WHEP): checked like the WebSocket upgrade (network allow-list,
 * token, same-site Origin, the camera's Host), see the WHEP cases in cross-site.test.ts.
 */
export type RouteKind = 'file' | 'destructive' | 'read' | 'feed' | 'live';

/**
 * Every route the daemon's OpenAPI document lists, with its kind
 * ("METHOD path" as in the document). route-coverage.test.ts fails when the
 * daemon grows a route that is not here, so new routes get their cases.
 */
export const COVERED_ROUTES: Readonly<Record<string, RouteKind>> = {
  'GET /': 'read',
  'GET /battery-percent': 'read',
  'GET /battery-millivolts': 'read',
  'GET /cpu-temp': 'read',
  'GET /is-charging': 'read',
  'GET /camera-stream-status': 'read',
  'GET /list-local-videos': 'read',
  'GET /download-video': 'file',
  'POST /download-video': 'file',
  'GET /download-thumbnail': 'file',
  'GET /wipe-local-videos': 'destructive',
  'PUT /blink-on': 'destructive',
  'PUT /blink-off': 'destructive',
  'PUT /restart-stream-mode': 'destructive',
  'GET /api/v1/status': 'read',
  'GET /api/v1/recordings': 'read',
  'DELETE /api/v1/recordings': 'destructive',
  'GET /api/v1/recordings/{name}': 'file',
  'DELETE /api/v1/recordings/{name}': 'destructive',
  'GET /api/v1/settings': 'read',
  'PATCH /api/v1/settings': 'destructive',
  'POST /api/v1/clock': 'destructive',
  'GET /api/v1/events': 'feed',
  'GET /api/v1/openapi.json': 'read',
  'GET /api/v1/pair': 'read',
  'POST /api/v1/pair': 'destructive',
  'DELETE /api/v1/pair': 'destructive',
  'GET /metrics': 'read',
  'POST /api/v1/moments': 'destructive',
  'GET /api/v1/moments': 'read',
  'DELETE /api/v1/moments/{id}': 'destructive',
  // Times, not names: no file argument to traverse (the segments are found by the library).
  'GET /api/v1/clip': 'read',
  'GET /api/v1/rides': 'read',
  // A ride id and part name are matched against the library's list of the ride's segments (a closed set), never used as a path.
  'GET /api/v1/rides/{id}/playlist.m3u8': 'read',
  'GET /api/v1/rides/{id}/{part}': 'read',
  'POST /api/v1/whep': 'live',
  'DELETE /api/v1/whep/{id}': 'live',
};

/** True when `body` carries a secret file's content or /etc/passwd. */
export function leaks(body: Buffer | string): boolean {
  const text = typeof body === 'string' ? body : body.toString('latin1');
  return text.includes(SECRET_MARKER) || text.includes('root:x:0:0');
}

/** One parsed HTTP response. */
export interface RawHttpResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

/** Everything a raw exchange produced. */
export interface RawExchange {
  /** Every response on the connection, in order. */
  responses: RawHttpResponse[];
  /** Status of the first response, 0 when none came. */
  status: number;
  /** Body of the first response (empty when none). */
  body: Buffer;
  /** All bytes received. */
  raw: Buffer;
  /** True when the deadline passed before the server closed the connection. */
  timedOut: boolean;
}

/** Options of {@link rawExchange}. */
export interface RawExchangeOptions {
  /** Give up (and destroy the socket) after this long, ms. Default 10000. */
  timeoutMs?: number;
  /** Resolve once the first response head is complete (upgrades, feeds, streams) instead of at close. */
  untilHead?: boolean;
  /** Host to connect to. Default 127.0.0.1. */
  host?: string;
  /** Local address to connect from (another 127.0.0.x is another client to per-address limits). */
  localAddress?: string;
}

/**
 * Writes `data` to a fresh connection and collects what comes back until
 * the server closes it (or the first response head, or the deadline).
 */
export function rawExchange(
  port: number,
  data: string | Buffer | ReadonlyArray<string | Buffer>,
  options: RawExchangeOptions = {},
): Promise<RawExchange> {
  const socket: Socket = connect({
    port,
    host: options.host ?? '127.0.0.1',
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  });
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    let timedOut = false;
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks);
      const responses = parseResponses(raw);
      resolve({
        responses,
        status: responses[0]?.status ?? 0,
        body: responses[0]?.body ?? Buffer.alloc(0),
        raw,
        timedOut,
      });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      finish();
    }, options.timeoutMs ?? 10_000);
    socket.on('error', () => {
      // the daemon may reset an abusive client: the test judges what arrived before 'close'
    });
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (options.untilHead && Buffer.concat(chunks).includes('\r\n\r\n')) finish();
    });
    socket.once('close', finish);
    socket.once('connect', () => {
      for (const part of typeof data === 'string' || Buffer.isBuffer(data) ? [data] : data) socket.write(part);
    });
  });
}

/** Splits raw bytes into HTTP responses (Content-Length, chunked, or to the end). */
export function parseResponses(raw: Buffer): RawHttpResponse[] {
  const out: RawHttpResponse[] = [];
  let at = 0;
  while (at < raw.length) {
    const headEnd = raw.indexOf('\r\n\r\n', at);
    if (headEnd < 0) break;
    const lines = raw.subarray(at, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!m) break;
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(':');
      if (i <= 0) continue;
      const name = line.slice(0, i).trim().toLowerCase();
      const value = line.slice(i + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const status = Number(m[1]);
    let bodyStart = headEnd + 4;
    let body: Buffer;
    if (status === 101 || status === 204 || status === 304) {
      body = Buffer.alloc(0);
      if (status === 101) bodyStart = raw.length;
    } else if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
      const parts: Buffer[] = [];
      let p = bodyStart;
      for (;;) {
        const lineEnd = raw.indexOf('\r\n', p);
        if (lineEnd < 0) break;
        const size = parseInt(raw.subarray(p, lineEnd).toString('latin1'), 16);
        if (!Number.isFinite(size)) break;
        p = lineEnd + 2;
        if (size === 0) {
          const trailerEnd = raw.indexOf('\r\n', p);
          p = trailerEnd < 0 ? raw.length : trailerEnd + 2;
          break;
        }
        parts.push(raw.subarray(p, p + size));
        p += size + 2;
      }
      body = Buffer.concat(parts);
      bodyStart = p;
    } else if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length']);
      body = raw.subarray(bodyStart, bodyStart + len);
      bodyStart += len;
    } else {
      body = raw.subarray(bodyStart);
      bodyStart = raw.length;
    }
    out.push({ status, headers, body });
    at = bodyStart;
  }
  return out;
}

/** Options of {@link startAbuseDaemon}. */
export interface AbuseDaemonOptions {
  /** Recorded segments in the recordings folder (made by ffmpeg). Default 2. */
  recordings?: number;
  /** Extra `rearview serve` arguments (later ones win). */
  args?: string[];
  /** `--api-token`; requests made by the helpers then carry it. */
  apiToken?: string;
  /** Called before the daemon starts, to plant files (symlinks, FIFOs, ...). */
  plant?: (dirs: { scratch: string; recordings: string; outside: string }) => void;
}

/** A running daemon under attack and the helpers to attack it. */
export interface AbuseDaemon {
  serve: ServeProcess;
  apiPort: number;
  streamPort: number;
  /** "127.0.0.1:PORT", the Host every helper request sends. */
  hostHeader: string;
  /** The recordings folder's parent (holds the parent secrets). */
  scratch: string;
  recordingsDir: string;
  outsideDir: string;
  /**
   * Sends one request built from parts (`Host`, `Connection: close` and
   * Content-Length added unless `headers` name them; the token when one
   * is set, unless `auth: false`). `target` goes on the wire as given.
   */
  http(
    method: string,
    target: string,
    options?: {
      headers?: Record<string, string>;
      body?: string | Buffer;
      auth?: boolean;
      timeoutMs?: number;
      localAddress?: string;
    },
  ): Promise<RawExchange>;
  /** Raw bytes to the API port. */
  raw(data: string | Buffer | ReadonlyArray<string | Buffer>, options?: RawExchangeOptions): Promise<RawExchange>;
  /** Fails unless every secret file is still there, unchanged. */
  secretsIntact(): void;
  /** Names of the .mkv files in the recordings folder. */
  segmentNames(): string[];
  /** Fails unless the process runs, /api/v1/status answers 200 and port 5000 streams bytes. */
  assertServing(): Promise<void>;
  /** Resident set size of the daemon process, KiB (Linux /proc). */
  rssKiB(): number;
  /** Stops the daemon (exit code or signal) and removes the scratch folder. Idempotent. */
  close(): Promise<number | string>;
}

/** Starts `rearview serve` on 127.0.0.1 over a recordings folder surrounded by secrets. */
export async function startAbuseDaemon(options: AbuseDaemonOptions = {}): Promise<AbuseDaemon> {
  const dir = scratchDir('rearview-abuse-');
  const scratch = dir.dir;
  const recordingsDir = join(scratch, 'recordings');
  const outsideDir = join(scratch, 'outside');
  mkdirSync(recordingsDir);
  mkdirSync(outsideDir);
  const secrets = [
    join(scratch, SECRET_NAMES.parentMkv),
    join(scratch, SECRET_NAMES.parentJpg),
    join(outsideDir, SECRET_NAMES.outsideMkv),
    join(outsideDir, SECRET_NAMES.outsideJpg),
  ];
  for (const file of secrets) writeFileSync(file, `${SECRET_MARKER} ${file}\n`);
  if ((options.recordings ?? 2) > 0) makeRecordings(recordingsDir, options.recordings ?? 2);
  options.plant?.({ scratch, recordings: recordingsDir, outside: outsideDir });
  const tokenArgs = options.apiToken === undefined ? [] : ['--api-token', options.apiToken];
  let serve: ServeProcess;
  try {
    serve = await startServe(
      ['--bind', '127.0.0.1', '--recordings', recordingsDir, ...tokenArgs, ...(options.args ?? [])],
      { waitForApi: true, timeoutMs: START_TIMEOUT_MS },
    );
  } catch (err) {
    dir.cleanup();
    throw err;
  }
  const apiPort = serve.apiPort as number;
  const hostHeader = `127.0.0.1:${apiPort}`;
  const raw = (data: string | Buffer | ReadonlyArray<string | Buffer>, o?: RawExchangeOptions): Promise<RawExchange> =>
    rawExchange(apiPort, data, o);
  const http: AbuseDaemon['http'] = (method, target, o = {}) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const has = (name: string): boolean => Object.keys(headers).some((h) => h.toLowerCase() === name);
    if (!has('host')) headers.Host = hostHeader;
    if (!has('connection')) headers.Connection = 'close';
    if (o.body !== undefined && !has('content-length') && !has('transfer-encoding'))
      headers['Content-Length'] = String(Buffer.byteLength(o.body));
    if (options.apiToken !== undefined && o.auth !== false && !has('authorization'))
      headers.Authorization = `Bearer ${options.apiToken}`;
    const head = `${method} ${target} HTTP/1.1\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`;
    const bytes = Buffer.concat([
      Buffer.from(head, 'latin1'),
      o.body === undefined ? Buffer.alloc(0) : Buffer.from(o.body),
    ]);
    return raw(bytes, {
      ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    });
  };
  let closing: Promise<number | string> | undefined;
  return {
    serve,
    apiPort,
    streamPort: serve.streamPort,
    hostHeader,
    scratch,
    recordingsDir,
    outsideDir,
    http,
    raw,
    secretsIntact() {
      for (const file of secrets) {
        assert.ok(existsSync(file), `${file} was removed`);
        assert.equal(readFileSync(file, 'utf8'), `${SECRET_MARKER} ${file}\n`, `${file} was changed`);
      }
    },
    segmentNames() {
      return readdirSync(recordingsDir)
        .filter((n) => n.endsWith('.mkv'))
        .sort();
    },
    async assertServing() {
      assert.equal(serve.process.exitCode, null, `daemon exited:\n${serve.stderrLines.join('\n')}`);
      const status = await http('GET', '/api/v1/status');
      assert.equal(status.status, 200, `status answered ${status.status}: ${status.body.toString()}`);
      assert.ok((await streamBytes(serve.streamPort, 1)) > 0, 'port 5000 sent nothing');
      assert.ok(!serve.stderrLines.some((l) => /uncaught|unhandled/i.test(l)), serve.stderrLines.join('\n'));
    },
    rssKiB() {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${serve.process.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : 0;
    },
    close() {
      closing ??= serve.close().finally(() => dir.cleanup());
      return closing;
    },
  };
}

/**
 * Connects to the stream port and resolves with the bytes read once at
 * least `minBytes` arrived (or 0 after `timeoutMs`, default 10000).
 */
export function streamBytes(port: number, minBytes: number, timeoutMs = 10_000): Promise<number> {
  const socket = connect(port, '127.0.0.1');
  let got = 0;
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(got);
    };
    const timer = setTimeout(() => {
      got = 0;
      done();
    }, timeoutMs);
    socket.on('error', () => {
      // the daemon may reset this client: what arrived is the answer
    });
    socket.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= minBytes) done();
    });
    socket.once('close', done);
  });
}
