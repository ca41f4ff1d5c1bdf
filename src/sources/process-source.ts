/**
 * A capture source that runs an encoder process and reads H.264 Annex-B from
 * its stdout: the shared base of the rpicam, gstreamer and ffmpeg sources.
 * The process runs in its own process group (killed as a whole on close);
 * stdout goes through the ByteStreamFramer (a frame ends when the next one
 * begins: the encoders are told to open frames with an AUD or SPS where
 * they can); stderr goes to the logger.
 */
import { SourceError, type RearviewError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { ByteStreamFramer } from './byte-stream-framer.js';
import type { CaptureSource, SourceSink } from './capture-source.js';
import { describeExit, ProcessRunner } from './process-runner.js';
import type { Clock } from '../util/clock.js';

/** An executable and its arguments. */
export interface CommandLine {
  command: string;
  args: string[];
}

/** Options shared by the process-source factories. */
export interface ProcessSourceFactoryOptions {
  /** Child environment; its PATH is searched. Default: this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Idle-point grace in ms (statistics only), 0 disables. Default 2. */
  idleCloseMs?: number;
  /** SIGTERM to SIGKILL grace on close, in ms. Default 2000. */
  killGraceMs?: number;
  clock?: Clock;
}

/** Options of {@link ProcessSource}. */
export interface ProcessSourceOptions {
  /** Short name for logs and status ("rpicam", "ffmpeg"). */
  name: string;
  commandLine: CommandLine;
  logger: Logger;
  /**
   * The encoder also writes the recording profile to file descriptor 3
   * (ffmpeg `pipe:3`, gst-launch `fdsink fd=3`): it gets a pipe there, framed
   * like stdout and delivered to start()'s recording sink. Default false.
   */
  recordingOutput?: boolean;
  /** Child environment (PATH is used to find the executable). Default: this process's. */
  env?: NodeJS.ProcessEnv;
  /** Idle-point grace in ms (statistics only), 0 disables. Default 2. */
  idleCloseMs?: number;
  /** SIGTERM to SIGKILL grace on close, in ms. Default 2000. */
  killGraceMs?: number;
  clock?: Clock;
}

/** An encoder process as a capture source; see the file comment. */
export class ProcessSource implements CaptureSource {
  readonly name: string;
  /** The command line this source runs (for status pages and tests). */
  readonly commandLine: CommandLine;
  readonly recordingOutput: boolean;
  private readonly options: ProcessSourceOptions;
  private runner: ProcessRunner | undefined;
  private framer: ByteStreamFramer | undefined;
  private recordingFramer: ByteStreamFramer | undefined;
  private exitCallbacks: Array<(error: RearviewError | undefined) => void> = [];
  private exitReported = false;
  private closed = false;

  constructor(options: ProcessSourceOptions) {
    this.options = options;
    this.name = options.name;
    this.commandLine = options.commandLine;
    this.recordingOutput = options.recordingOutput ?? false;
  }

  /** Process id (and process group id) of the running encoder. */
  get pid(): number | undefined {
    return this.runner?.pid;
  }

  /** Framing counters (bytes, access units, idle points). */
  get framerStats(): ByteStreamFramer['stats'] | undefined {
    return this.framer?.stats;
  }

  /** Framing counters of the recording output (fd 3), when there is one. */
  get recordingFramerStats(): ByteStreamFramer['stats'] | undefined {
    return this.recordingFramer?.stats;
  }

  /** Spawns the encoder. Rejects with ERR_SOURCE_SPAWN when it cannot start. */
  async start(sink: SourceSink, recordingSink?: SourceSink): Promise<void> {
    if (this.runner) throw new Error(`${this.name}: start() called twice`);
    if (this.closed) throw new SourceError('ERR_ABORTED', `${this.name}: closed before start`);
    const { logger, clock } = this.options;
    const newFramer = (target: SourceSink | undefined, log: Logger): ByteStreamFramer =>
      new ByteStreamFramer({
        logger: log,
        // Without a recording sink the recording output is still read (a full pipe would stall the encoder) and dropped.
        onAccessUnit: (au, capturedAtMs) => target?.accessUnit(au, capturedAtMs),
        ...(this.options.idleCloseMs !== undefined ? { idleCloseMs: this.options.idleCloseMs } : {}),
        ...(clock ? { clock } : {}),
      });
    const framer = newFramer(sink, logger);
    this.framer = framer;
    const recordingFramer = this.recordingOutput ? newFramer(recordingSink, logger.child('recording')) : undefined;
    this.recordingFramer = recordingFramer;
    const { command, args } = this.commandLine;
    logger.info(`starting: ${command} ${args.map(quoteArg).join(' ')}`);
    this.runner = new ProcessRunner({
      command,
      args,
      logger: logger.child(command),
      ...(this.options.env ? { env: this.options.env } : {}),
      ...(this.options.killGraceMs !== undefined ? { killGraceMs: this.options.killGraceMs } : {}),
      ...(clock ? { clock } : {}),
      onStdout: (chunk) => framer.push(chunk),
      ...(recordingFramer ? { onFd3: (chunk: Buffer) => recordingFramer.push(chunk) } : {}),
      onExit: (exit) => {
        if (exit.requested || this.closed) {
          framer.close();
          recordingFramer?.close();
          return;
        }
        framer.end();
        recordingFramer?.end();
        this.reportExit(new SourceError('ERR_SOURCE_EXITED', describeExit(command, exit)));
      },
    });
    await this.runner.start();
  }

  onExit(callback: (error: RearviewError | undefined) => void): void {
    this.exitCallbacks.push(callback);
  }

  /** Kills the encoder's process group (SIGTERM, then SIGKILL). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.framer?.close();
    this.recordingFramer?.close();
    await this.runner?.close();
  }

  private reportExit(error: RearviewError | undefined): void {
    if (this.exitReported) return;
    this.exitReported = true;
    for (const cb of this.exitCallbacks) cb(error);
  }
}

/** Quotes an argument for a log line so it can be pasted into a shell. */
export function quoteArg(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
