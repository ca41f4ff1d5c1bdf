/**
 * Relays another camera's raw H.264 stream (`tcp://host:port`, e.g. a
 * Velovision Rearview or another rearview daemon). One instance is one
 * connection: start() resolves once connected, and a dropped connection is
 * reported through onExit so the SourceSupervisor reconnects with backoff
 * (and logs a failure only when it differs from the previous one).
 *
 * Idle close is off by default here: a frame can arrive in several TCP
 * segments with gaps, and a sender like ours ends every frame with an AUD,
 * which closes it at once anyway.
 *
 * When the sender is a rearview camera, its capture-time SEI becomes the
 * relayed frame's capturedAtMs, so latency measured downstream still starts
 * at the real camera.
 */
import { connect, type Socket } from 'node:net';
import { SourceError, type RearviewError } from '../errors.js';
import { captureTimeOf } from '../h264/capture-time-sei.js';
import type { Logger } from '../log/logger.js';
import { cannotConnectText } from '../util/describe-network-error.js';
import { parseStreamAddress, type StreamAddress } from '../util/stream-address.js';
import type { CaptureSource, SourceSink } from './capture-source.js';
import type { Clock } from '../util/clock.js';
import { StreamSource } from './stream-source.js';

/** Largest difference between a relayed capture time and our clock that is still trusted: 60 s. */
export const MAX_CLOCK_SKEW_MS = 60_000;

/** Options of {@link TcpRelaySource}. */
export interface TcpRelaySourceOptions {
  logger: Logger;
  /** Idle-point grace in ms (statistics only), 0 disables. Default 0. */
  idleCloseMs?: number;
  /** Give up connecting after this long, in ms. Default 5000. */
  connectTimeoutMs?: number;
  clock?: Clock;
}

/** One connection to a remote H.264-over-TCP camera; see the file comment. */
export class TcpRelaySource implements CaptureSource {
  readonly name: string;
  readonly address: StreamAddress;
  private readonly options: TcpRelaySourceOptions;
  private socket: Socket | undefined;
  private stream: StreamSource | undefined;
  private exitCallbacks: Array<(error: RearviewError | undefined) => void> = [];
  private exitReported = false;
  private closed = false;
  private abortConnect: (() => void) | undefined;

  /** Throws ConfigError (ERR_CONFIG) for a bad address (the one parser every command uses, port 5000 by default). */
  constructor(spec: string, options: TcpRelaySourceOptions) {
    this.address = parseStreamAddress(spec);
    this.name = this.address.url;
    this.options = options;
  }

  /** Connects. Rejects with ERR_SOURCE_CONNECT when the connection fails or times out. */
  start(sink: SourceSink): Promise<void> {
    if (this.socket) throw new Error(`${this.name}: start() called twice`);
    const { host, port } = this.address;
    const { logger } = this.options;
    return new Promise<void>((resolve, reject) => {
      const socket = connect({ host, port });
      this.socket = socket;
      // close() while connecting must settle start(), or a supervisor closing during start-up would wait forever.
      this.abortConnect = () => {
        socket.destroy();
        reject(new SourceError('ERR_ABORTED', `${this.name}: closed while connecting`));
      };
      const timeoutMs = this.options.connectTimeoutMs ?? 5000;
      socket.setTimeout(timeoutMs);
      const fail = (err: Error) => {
        socket.destroy();
        reject(new SourceError('ERR_SOURCE_CONNECT', cannotConnectText(this.name, err), { cause: err }));
      };
      socket.once('timeout', () =>
        fail(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
      );
      socket.once('error', fail);
      socket.once('connect', () => {
        this.abortConnect = undefined;
        socket.off('error', fail);
        socket.setTimeout(0);
        socket.setKeepAlive(true, 5000);
        if (this.closed) {
          socket.destroy();
          reject(new SourceError('ERR_ABORTED', `${this.name}: closed while connecting`));
          return;
        }
        logger.info(`connected to ${host}:${port}`);
        const stream = new StreamSource({
          name: this.name,
          input: socket,
          logger,
          idleCloseMs: this.options.idleCloseMs ?? 0,
          ...(this.options.clock ? { clock: this.options.clock } : {}),
        });
        this.stream = stream;
        stream.onExit((error) => {
          socket.destroy();
          const reason =
            error?.message.replace(/end of stream$/, 'connection closed by the sender') ?? 'connection closed';
          this.reportExit(new SourceError('ERR_SOURCE_CONNECT', reason, error ? { cause: error } : undefined));
        });
        stream.start(this.captureTimeSink(sink)).then(resolve, reject);
      });
    });
  }

  /**
   * Keeps the sender's capture time: when an access unit carries Rearview's
   * capture-time SEI (another rearview upstream), that time is the frame's
   * capturedAtMs (so glass-to-glass latency still starts at the real camera)
   * and the SEI is removed (the hub adds its own). A time more than
   * MAX_CLOCK_SKEW_MS away from our clock is ignored: the two clocks disagree
   * (a Raspberry Pi without a real-time clock before NTP), and the arrival
   * time is used instead.
   */
  private captureTimeSink(sink: SourceSink): SourceSink {
    let warnedSkew = false;
    return {
      accessUnit: (au, arrivedAtMs) => {
        const stamp = captureTimeOf(au.nals, arrivedAtMs, MAX_CLOCK_SKEW_MS);
        if (stamp === undefined) {
          sink.accessUnit(au, arrivedAtMs);
          return;
        }
        const nals = au.nals.filter((_, i) => i !== stamp.index);
        let capturedAtMs = arrivedAtMs;
        if (stamp.trusted) capturedAtMs = stamp.stampedAtMs;
        else if (!warnedSkew) {
          warnedSkew = true;
          this.options.logger.warn(
            `the sender's clock is ${Math.round((stamp.stampedAtMs - arrivedAtMs) / 1000)} s off ours: using arrival times as capture times`,
          );
        }
        sink.accessUnit({ ...au, nals }, capturedAtMs);
      },
      discontinuity: (reason) => sink.discontinuity(reason),
    };
  }

  onExit(callback: (error: RearviewError | undefined) => void): void {
    this.exitCallbacks.push(callback);
  }

  /** Closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abortConnect?.();
    this.abortConnect = undefined;
    await this.stream?.close();
    this.socket?.destroy();
  }

  private reportExit(error: RearviewError | undefined): void {
    if (this.exitReported || this.closed) return;
    this.exitReported = true;
    for (const cb of this.exitCallbacks) cb(error);
  }
}
