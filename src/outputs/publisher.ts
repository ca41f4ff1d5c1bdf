/**
 * One publishing target (`--publish URL`): a hub reader feeding an ffmpeg
 * child that remuxes the camera's H.264, untouched, to the media server
 * (RTSP ANNOUNCE/RECORD over TCP, FLV over RTMP/RTMPS, MPEG-TS over SRT).
 *
 * - The child gets FLV on its standard input (src/outputs/flv-writer.ts), so
 *   the timestamps it sends are the hub's capture-time pts/dts.
 * - Each run has its own HubReader: it joins on the cached keyframe (SPS/PPS
 *   first) and has the slow-reader policy of every live client (skip to the
 *   next keyframe, bounded memory). A slow or dead upstream fills the pipe,
 *   the reader skips (counted as drops) and, with no progress for the hard
 *   limit, the run is ended; local viewers and the recorder read their own
 *   queues and never notice.
 * - The URL is one argv element; `-protocol_whitelist` holds only the
 *   scheme's transports; rtmps verifies the server's certificate against
 *   the system's CAs or `publishCa`.
 * - Reconnects with backoff and jitter (publish-backoff.ts). One log line
 *   per change of state or of the error; the same failure again is logged
 *   at debug level only.
 * - A new parameter-set generation (resolution change, source restart) ends
 *   the run and starts the next at once: the receiver needs new codec
 *   parameters (an RTSP session's SDP cannot change).
 *
 * Credentials never leave this file unmasked: every text shown (log, status,
 * error) goes through maskSecrets().
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { HubReader, HubReaderOptions } from '../hub/hub-reader.js';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { FFMPEG_MISSING } from '../util/ffmpeg-path.js';
import { maskSecrets, NAME_PLACEHOLDER, type PublishTarget } from '../util/publish-url.js';
import { FlvWriter } from './flv-writer.js';
import { openTlsTunnel, type TlsTunnel, type TlsTunnelError } from './tls-tunnel.js';
import {
  type PublishErrorCode,
  type PublisherState,
  type PublishFailure,
  PublishAttempts,
} from './publish-attempts.js';
import { PublishBackoff } from './publish-backoff.js';

/** The part of a StreamHub a publisher needs. */
export interface PublishHub {
  addReader(options: HubReaderOptions): HubReader;
}

/** One publisher in /api/v1/status. */
export interface PublisherStatus {
  /** Position in the `publish` list, from 0. */
  index: number;
  scheme: string;
  /** The target with credentials masked and `{name}` filled in. */
  url: string;
  /** Which hub it reads: `stream` or `record`. */
  profile: 'stream' | 'record';
  state: PublisherState;
  /** Wall-clock ms since the state began. */
  sinceMs: number;
  /** Frames and FLV bytes handed to ffmpeg, over all runs. */
  frames: number;
  bytes: number;
  /** Frames skipped by the slow-reader policy, over all runs. */
  framesDropped: number;
  /** Runs started after the first. */
  reconnects: number;
  /** The last failure (masked), or null. */
  lastError: string | null;
  lastErrorCode: PublishErrorCode | null;
  /** While retrying: ms until the next attempt. */
  retryInMs: number | null;
}

/** Options of {@link Publisher}. */
export interface PublisherOptions {
  target: PublishTarget;
  index: number;
  /** Replaces `{name}` in the URL (the camera's fleet name). */
  name: string;
  hub: PublishHub;
  /** Finds ffmpeg for each run (undefined: none installed, a status, retried). */
  findFfmpeg: () => string | undefined;
  /** CA certificates (PEM file) for rtmps; default the system's. */
  caFile?: string | undefined;
  /** Slow-reader limits of the run's HubReader. */
  reader?: Omit<HubReaderOptions, 'name' | 'join'>;
  /** A run not publishing this long after its first frame is ended, ms. Default 15000. */
  connectTimeoutMs?: number;
  backoff?: PublishBackoff;
  logger?: Logger;
  clock: Clock;
  /** Environment of the child (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** Most bytes waiting in the child's stdin before the reader's queue takes the backlog. */
const STDIN_BUFFER_BYTES = 256 * 1024;
/** Stderr kept per run for the error message. */
const STDERR_KEEP_BYTES = 4096;
/** After SIGTERM (ffmpeg closes the session politely), SIGKILL after this long, ms. */
const KILL_GRACE_MS = 2000;
/** With no ffmpeg, look again this often, ms. */
const NO_FFMPEG_RETRY_MS = 60_000;

interface Run {
  child: ChildProcessWithoutNullStreams;
  reader: HubReader;
  writer: FlvWriter;
  stderr: string;
  progressLine: string;
  firstFrameAtMs: number | undefined;
  publishingAtMs: number | undefined;
  connectTimer: TimerHandle | undefined;
  killTimer: TimerHandle | undefined;
  /** Why we ended it (undefined: it ended on its own). */
  endReason: { code: PublishErrorCode; message: string } | { restartNow: string } | undefined;
  waitingForDrain: boolean;
  exited: boolean;
  /** The URL ffmpeg was given (rtsps: the tunnel's loopback end). */
  runUrl: string;
  tunnel: TlsTunnel | undefined;
}

/** See the file comment. */
export class Publisher {
  readonly index: number;
  private readonly target: PublishTarget;
  private readonly url: string;
  private readonly shown: string;
  private readonly hub: PublishHub;
  private readonly options: PublisherOptions;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly backoff: PublishBackoff;
  private readonly connectTimeoutMs: number;
  private readonly attempts: PublishAttempts;
  private run: Run | undefined;
  private runs = 0;
  private frames = 0;
  private bytes = 0;
  private droppedBefore = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private exitWaiters: Array<() => void> = [];

  constructor(options: PublisherOptions) {
    this.options = options;
    this.index = options.index;
    this.target = options.target;
    this.url = options.target.url.split(NAME_PLACEHOLDER).join(options.name);
    this.shown = options.target.masked.split(NAME_PLACEHOLDER).join(options.name);
    this.hub = options.hub;
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock;
    this.backoff = options.backoff ?? new PublishBackoff();
    this.connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
    this.attempts = new PublishAttempts(this.clock, this.logger, this.shown, () => this.attempt());
  }

  /** The target as shown (masked). */
  get shownUrl(): string {
    return this.shown;
  }

  /** Starts the first run. */
  start(): void {
    this.logger.info(`connecting to ${this.shown} (${this.target.profile} profile)`);
    this.attempt();
  }

  /** Stops the run (ffmpeg ends the session) and every timer. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.attempts.cancelRetry();
      const run = this.run;
      if (run && !run.exited) {
        const exited = new Promise<void>((resolve) => this.exitWaiters.push(resolve));
        this.endRun(run, { restartNow: 'closing' });
        await exited;
      }
      this.attempts.setState('stopped');
    })();
    return this.closing;
  }

  /** Figures for /api/v1/status. */
  status(): PublisherStatus {
    const dropped = this.droppedBefore + (this.run ? this.run.reader.stats.framesDropped : 0);
    const attempts = this.attempts.status();
    return {
      index: this.index,
      scheme: this.target.scheme,
      url: this.shown,
      profile: this.target.profile,
      state: attempts.state,
      sinceMs: attempts.sinceMs,
      frames: this.frames,
      bytes: this.bytes,
      framesDropped: dropped,
      reconnects: Math.max(0, this.runs - 1),
      lastError: attempts.lastError,
      lastErrorCode: attempts.lastErrorCode,
      retryInMs: attempts.retryInMs,
    };
  }

  private attempt(): void {
    this.attempts.attemptStarted();
    if (this.closed) return;
    const ffmpeg = this.options.findFfmpeg();
    if (ffmpeg === undefined) {
      this.fail({ code: 'ERR_PUBLISH_NO_FFMPEG', message: FFMPEG_MISSING }, 0);
      return;
    }
    this.runs++;
    this.attempts.setState('connecting');
    if (this.target.scheme === 'rtsps') {
      void this.attemptThroughTunnel(ffmpeg);
      return;
    }
    this.spawnRun(ffmpeg, this.url, undefined);
  }

  /**
   * rtsps: Node connects with TLS and verifies the server first (tls-tunnel.ts); ffmpeg then speaks
   * RTSP to the tunnel's loopback end. A server that does not verify never sees ffmpeg.
   */
  private async attemptThroughTunnel(ffmpeg: string): Promise<void> {
    const url = new URL(this.url);
    let ca: Buffer | undefined;
    if (this.options.caFile) {
      try {
        ca = readFileSync(this.options.caFile);
      } catch (err) {
        this.fail(
          { code: 'ERR_PUBLISH_TLS', message: `cannot read publishCa: ${(err as NodeJS.ErrnoException).code ?? ''}` },
          0,
        );
        return;
      }
    }
    let tunnel: TlsTunnel;
    try {
      tunnel = await openTlsTunnel({ host: url.hostname, port: Number(url.port || 322), ca });
    } catch (err) {
      const e = err as TlsTunnelError;
      if (this.closed) return;
      this.fail(
        { code: e.kind === 'tls' ? 'ERR_PUBLISH_TLS' : 'ERR_PUBLISH_CONNECT', message: this.mask(e.message) },
        0,
      );
      return;
    }
    if (this.closed) {
      tunnel.close();
      return;
    }
    url.protocol = 'rtsp:';
    url.hostname = '127.0.0.1';
    url.port = String(tunnel.port);
    this.spawnRun(ffmpeg, url.href, tunnel);
  }

  private spawnRun(ffmpeg: string, runUrl: string, tunnel: TlsTunnel | undefined): void {
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(ffmpeg, this.args(runUrl), {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: this.options.env ?? process.env,
      });
    } catch (err) {
      tunnel?.close();
      this.fail(
        { code: 'ERR_PUBLISH_EXITED', message: `cannot start ${ffmpeg}: ${this.mask((err as Error).message)}` },
        0,
      );
      return;
    }
    const reader = this.hub.addReader({
      name: `publish ${this.index} ${this.shown}`,
      join: 'latest-keyframe',
      // Skips are expected while ffmpeg connects (it reads nothing until then); they are counted in status.
      quiet: true,
      ...this.options.reader,
    });
    const run: Run = {
      child,
      reader,
      writer: new FlvWriter(),
      stderr: '',
      progressLine: '',
      firstFrameAtMs: undefined,
      publishingAtMs: undefined,
      connectTimer: undefined,
      killTimer: undefined,
      endReason: undefined,
      waitingForDrain: false,
      exited: false,
      runUrl,
      tunnel,
    };
    this.run = run;
    // The server hung up or the TLS session broke: end ffmpeg's run with that reason (not its loopback's).
    tunnel?.onClose((err) =>
      this.endRun(run, {
        code: 'ERR_PUBLISH_REFUSED',
        message: `the server closed the connection${err ? `: ${this.mask(err.message)}` : ''}`,
      }),
    );
    child.on('error', (err) => {
      // ENOENT (ffmpeg vanished), EACCES: the 'exit' may not follow, so end here.
      const code = (err as NodeJS.ErrnoException).code;
      run.endReason ??=
        code === 'ENOENT'
          ? { code: 'ERR_PUBLISH_NO_FFMPEG', message: `${FFMPEG_MISSING}` }
          : { code: 'ERR_PUBLISH_EXITED', message: `ffmpeg: ${this.mask(err.message)}` };
      this.onExit(run, null, null);
    });
    child.stdin.on('error', () => {
      // EPIPE when ffmpeg exits first: its exit is what gets reported
    });
    child.stdin.on('drain', () => {
      run.waitingForDrain = false;
      this.pump(run);
    });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => this.onProgress(run, text));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      run.stderr = (run.stderr + text).slice(-STDERR_KEEP_BYTES);
    });
    child.on('exit', (code, signal) => this.onExit(run, code, signal));
    reader.onReadable(() => this.pump(run));
    // No progress past the backlog limit: before the server took the session it is a connection
    // that does not come up (ffmpeg opens RTMP/SRT before it reads its input), after it a stall.
    reader.onStalled(() =>
      this.endRun(
        run,
        run.publishingAtMs === undefined
          ? { code: 'ERR_PUBLISH_TIMEOUT', message: 'timed out connecting (server unreachable or not answering)' }
          : {
              code: 'ERR_PUBLISH_STALLED',
              message: 'the server stopped taking the stream (no progress past the backlog limit)',
            },
      ),
    );
    this.pump(run);
  }

  /** The child's argv: every value one element, nothing through a shell. */
  private args(url: string): string[] {
    const t = this.target;
    const out = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-progress', 'pipe:1', '-stats_period', '0.5'];
    // Input: our FLV on stdin, read as it comes (no probing delay, nothing but the pipe).
    out.push('-protocol_whitelist', 'pipe', '-fflags', 'nobuffer', '-probesize', '32', '-analyzeduration', '0');
    out.push('-f', 'flv', '-i', 'pipe:0', '-map', '0:v:0', '-c', 'copy');
    switch (t.scheme) {
      case 'rtsp':
      case 'rtsps': // through the verified tunnel, so plain RTSP to loopback
        out.push('-protocol_whitelist', 'rtsp,tcp', '-rtsp_transport', 'tcp', '-f', 'rtsp');
        break;
      case 'rtmp':
        out.push('-protocol_whitelist', 'rtmp,tcp', '-f', 'flv');
        break;
      case 'rtmps':
        out.push('-protocol_whitelist', 'rtmps,tls,tcp', '-tls_verify', '1');
        if (this.options.caFile) out.push('-ca_file', this.options.caFile);
        out.push('-f', 'flv');
        break;
      case 'srt':
        // libsrt opens its own UDP socket: no other protocol is needed.
        out.push('-protocol_whitelist', 'srt', '-f', 'mpegts');
        break;
    }
    out.push(url);
    return out;
  }

  private onProgress(run: Run, text: string): void {
    run.progressLine += text;
    const lines = run.progressLine.split('\n');
    run.progressLine = (lines.pop() ?? '').slice(-200);
    for (const line of lines) {
      // frame=N counts frames the muxer took: after the server accepted the session.
      const m = /^frame=(\d+)/.exec(line);
      if (m && Number(m[1]) > 0 && run.publishingAtMs === undefined && this.run === run) this.publishing(run);
    }
  }

  private publishing(run: Run): void {
    run.publishingAtMs = this.clock.monoNow();
    if (run.connectTimer !== undefined) this.clock.clearTimeout(run.connectTimer);
    run.connectTimer = undefined;
    this.attempts.published();
  }

  /** Moves frames from the reader into ffmpeg's stdin while its buffer is small. */
  private pump(run: Run): void {
    if (run.exited || run.endReason || run.waitingForDrain || this.run !== run) return;
    const stdin = run.child.stdin;
    while (stdin.writableLength < STDIN_BUFFER_BYTES) {
      const frame = run.reader.read();
      if (!frame) return;
      if (run.writer.generation !== undefined && frame.params.generation !== run.writer.generation) {
        this.endRun(run, { restartNow: 'the stream parameters changed' });
        return;
      }
      const chunks = run.writer.write(frame);
      if (!chunks) continue; // waiting for a keyframe
      if (run.firstFrameAtMs === undefined) {
        run.firstFrameAtMs = this.clock.monoNow();
        run.connectTimer = this.clock.setTimeout(
          () =>
            this.endRun(run, {
              code: 'ERR_PUBLISH_TIMEOUT',
              message: `timed out: not publishing ${Math.round(this.connectTimeoutMs / 1000)} s after starting (server unreachable or not answering)`,
            }),
          this.connectTimeoutMs,
        );
      }
      this.frames++;
      let ok = true;
      for (const chunk of chunks) {
        this.bytes += chunk.length;
        ok = stdin.write(chunk);
      }
      if (!ok) {
        run.waitingForDrain = true;
        return;
      }
    }
  }

  /** Ends a run on purpose: SIGTERM (ffmpeg closes the session), SIGKILL if it lingers. */
  private endRun(run: Run, reason: NonNullable<Run['endReason']>): void {
    if (run.exited || run.endReason) return;
    run.endReason = reason;
    if (run.connectTimer !== undefined) this.clock.clearTimeout(run.connectTimer);
    run.connectTimer = undefined;
    run.child.stdin.end();
    run.child.kill('SIGTERM');
    // A real timer: the child is a real process, whatever clock drives the schedule.
    run.killTimer = setTimeout(() => run.child.kill('SIGKILL'), KILL_GRACE_MS);
    (run.killTimer as NodeJS.Timeout).unref();
  }

  private onExit(run: Run, code: number | null, signal: NodeJS.Signals | null): void {
    if (run.exited) return;
    run.exited = true;
    if (run.connectTimer !== undefined) this.clock.clearTimeout(run.connectTimer);
    clearTimeout(run.killTimer as NodeJS.Timeout | undefined);
    this.droppedBefore += run.reader.stats.framesDropped;
    run.reader.close();
    run.tunnel?.close();
    if (this.run === run) this.run = undefined;
    for (const w of this.exitWaiters.splice(0)) w();
    if (this.closed) return;
    const publishedFor = run.publishingAtMs === undefined ? 0 : this.clock.monoNow() - run.publishingAtMs;
    const reason = run.endReason;
    if (reason && 'restartNow' in reason) {
      this.logger.info(`publishing to ${this.shown}: ${reason.restartNow}; starting a new session`);
      this.attempt();
      return;
    }
    const error = reason ?? this.classify(run, code, signal);
    this.fail(error, publishedFor);
  }

  /** Records a failure, logs it once per distinct cause, and schedules the next attempt. */
  private fail(error: PublishFailure, publishedForMs: number): void {
    if (this.closed) return; // a failure that lands after close(): nothing to retry
    if (error.code === 'ERR_PUBLISH_NO_FFMPEG') this.attempts.fail(error, NO_FFMPEG_RETRY_MS, 'unavailable');
    else this.attempts.fail(error, this.backoff.next(publishedForMs), 'retrying');
  }

  /** Why ffmpeg exited, in words and a code, from its last error lines (masked). */
  private classify(
    run: Run,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): { code: PublishErrorCode; message: string } {
    const text = this.mask(run.stderr.split(run.runUrl).join(this.shown));
    // "[rtmp @ 0x5569...] " prefixes differ per run: without them the same failure reads the same (and is logged once).
    // libsrt's own lines start with a wall-clock time and a thread tag ("10:34:58.453144/SRT:RcvQ:w1!W:SRT.cn: "): dropped too.
    const lines = text
      .split('\n')
      .map((l) =>
        l
          .replace(/^\[[^\]@]* @ 0x[0-9a-f]+\] /, '')
          .replace(/^\d\d:\d\d:\d\d\.\d+\/SRT:\S* /, '')
          .trim(),
      )
      .filter((l) => l !== '' && !/^Last message repeated/.test(l));
    const last = lines.slice(-2).join(' / ').slice(0, 300);
    const how = signal ? `killed by ${signal}` : `exit code ${code}`;
    const rules: Array<[RegExp, PublishErrorCode, string]> = [
      [/certificate|verification|x509|tls_verify|handshake failed/i, 'ERR_PUBLISH_TLS', "the server's certificate"],
      [
        /\b401\b|unauthori[sz]ed|authentication|auth(?:orization)? failed|\b403\b|forbidden/i,
        'ERR_PUBLISH_AUTH',
        'refused the credentials',
      ],
      // libsrt says why the listener rejected the handshake (ffmpeg itself only "Input/output error").
      [
        /incorrect passphrase|password required or unexpected|BADSECRET|NOSECRET/i,
        'ERR_PUBLISH_AUTH',
        'the SRT listener refused the passphrase (wrong, or set on one side only)',
      ],
      [/connection refused/i, 'ERR_PUBLISH_CONNECT', 'connection refused'],
      [
        /name or service not known|failed to resolve|temporary failure in name resolution|no address associated/i,
        'ERR_PUBLISH_CONNECT',
        'unknown host',
      ],
      [/no route to host|network is unreachable|host is unreachable/i, 'ERR_PUBLISH_CONNECT', 'host unreachable'],
      [/timed? ?out/i, 'ERR_PUBLISH_CONNECT', 'timed out'],
      [
        /rejected|\bREJECT\b/i,
        'ERR_PUBLISH_REFUSED',
        'the server rejected the connection (a stream id in use or refused?)',
      ],
      [
        /connection reset|broken pipe|end of file|input\/output error/i,
        'ERR_PUBLISH_REFUSED',
        'the server closed the connection',
      ],
    ];
    for (const [re, errorCode, words] of rules) {
      if (re.test(text)) return { code: errorCode, message: `${words} (ffmpeg ${how}: ${last})` };
    }
    return { code: 'ERR_PUBLISH_EXITED', message: `ffmpeg ${how}${last ? `: ${last}` : ''}` };
  }

  private mask(text: string): string {
    // The URL as run first (its masked form with the name filled in), then any secret left.
    return maskSecrets(text.split(this.url).join(this.shown), this.target);
  }
}
