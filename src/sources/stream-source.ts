/**
 * A capture source over a Node readable byte stream: standard input
 * (`--source -`, for `rpicam-vid ... -o - | rearview serve --source -`) and,
 * through {@link TcpRelaySource}, a socket. Bytes go through the
 * ByteStreamFramer; the end of the stream is reported through onExit.
 */
import { fstatSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { SourceError, type RearviewError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { ByteStreamFramer } from './byte-stream-framer.js';
import type { CaptureSource, SourceSink } from './capture-source.js';
import type { Clock } from '../util/clock.js';

/** Options of {@link StreamSource}. */
export interface StreamSourceOptions {
  /** Short name for logs and status. */
  name: string;
  /** The byte stream. Not destroyed on close (standard input can be read again by the next run). */
  input: Readable;
  logger: Logger;
  /** Idle-point grace in ms (statistics only), 0 disables. Default 2. */
  idleCloseMs?: number;
  /** False when a new run cannot bring data back (standard input after EOF). Default true. */
  restartable?: boolean;
  clock?: Clock;
}

/** A readable byte stream as a capture source; see the file comment. */
export class StreamSource implements CaptureSource {
  readonly name: string;
  private readonly options: StreamSourceOptions;
  private framer: ByteStreamFramer | undefined;
  private exitCallbacks: Array<(error: RearviewError | undefined) => void> = [];
  private exitReported = false;
  private ended = false;
  private closed = false;
  private readonly onData = (chunk: Buffer | string) => {
    this.framer?.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.framer?.end();
    this.detach();
    this.reportExit(new SourceError('ERR_SOURCE_EXITED', `${this.name}: end of stream`));
  };
  private readonly onError = (err: Error) => {
    this.framer?.close();
    this.detach();
    this.reportExit(new SourceError('ERR_SOURCE_EXITED', `${this.name}: ${err.message}`, { cause: err }));
  };

  constructor(options: StreamSourceOptions) {
    this.options = options;
    this.name = options.name;
  }

  /** False once standard input has ended (a restart would read nothing). */
  get restartable(): boolean {
    return (this.options.restartable ?? true) || !(this.ended || this.options.input.readableEnded);
  }

  /** Framing counters (bytes, access units, idle points). */
  get framerStats(): ByteStreamFramer['stats'] | undefined {
    return this.framer?.stats;
  }

  async start(sink: SourceSink): Promise<void> {
    if (this.framer) throw new Error(`${this.name}: start() called twice`);
    const { input, logger, clock } = this.options;
    if (input.readableEnded) throw new SourceError('ERR_SOURCE_EXITED', `${this.name}: the stream has already ended`);
    this.framer = new ByteStreamFramer({
      logger,
      onAccessUnit: (au, capturedAtMs) => sink.accessUnit(au, capturedAtMs),
      ...(this.options.idleCloseMs !== undefined ? { idleCloseMs: this.options.idleCloseMs } : {}),
      ...(clock ? { clock } : {}),
    });
    input.on('data', this.onData);
    input.once('end', this.onEnd);
    input.once('error', this.onError);
    input.resume();
  }

  onExit(callback: (error: RearviewError | undefined) => void): void {
    this.exitCallbacks.push(callback);
  }

  /** Stops reading (the stream itself stays open). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.framer?.close();
    this.detach();
  }

  private detach(): void {
    const { input } = this.options;
    input.off('data', this.onData);
    input.off('end', this.onEnd);
    input.off('error', this.onError);
    if (!input.destroyed) input.pause();
  }

  private reportExit(error: RearviewError | undefined): void {
    if (this.exitReported || this.closed) return;
    this.exitReported = true;
    for (const cb of this.exitCallbacks) cb(error);
  }
}

/**
 * The `-` source: standard input (or `input` in tests). Meant for a live
 * pipe from an encoder; a regular file on standard input is read as fast as
 * possible (a warning says to use `file:PATH`, which plays in real time).
 */
export function createStdinSource(
  logger: Logger,
  options: { input?: Readable; idleCloseMs?: number; clock?: Clock } = {},
): StreamSource {
  if (!options.input && stdinIsRegularFile()) {
    logger.warn(
      'standard input is a regular file: it is read as fast as possible, not in real time (use --source file:PATH to play a file)',
    );
  }
  return new StreamSource({
    name: 'stdin',
    input: options.input ?? process.stdin,
    logger,
    restartable: false,
    ...(options.idleCloseMs !== undefined ? { idleCloseMs: options.idleCloseMs } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
}

function stdinIsRegularFile(): boolean {
  try {
    return fstatSync(0).isFile();
  } catch {
    return false;
  }
}
