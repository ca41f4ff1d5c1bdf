/**
 * `connect(url)`: the live stream of a camera as an async iterable of
 * decodable access units, for app developers (docs/client.md).
 *
 * ```ts
 * import { connect } from 'rearview/client';
 * for await (const frame of connect('tcp://velovision-rearview.local:5000')) {
 *   console.log(frame.seq, frame.isKey, frame.width, frame.height, frame.data.length);
 * }
 * ```
 *
 * Works with any raw H.264 Annex-B stream over TCP (Rearview, the original
 * device, GStreamer tcpserversink, rpicam-vid --listen). Reconnects with
 * exponential backoff, resuming at the next keyframe; a typed event is
 * emitted for every state change; an AbortSignal or close() ends it.
 */
import { EventEmitter } from 'node:events';
import { codecString } from '../h264/codec-string.js';
import type { SequenceParameterSet } from '../h264/sps.js';
import { H264Error } from '../errors.js';
import { parseStreamAddress } from '../util/stream-address.js';
import { joinAnnexB } from '../h264/avcc.js';
import { sameBytes } from '../h264/parameter-set-store.js';
import { AnnexBFramer, type FramedAccessUnit } from './annexb-framer.js';
import { FrameQueue, type ConsumerPolicy } from './frame-queue.js';
import {
  ReconnectingTcpReader,
  type ReconnectOptions,
  type StreamState,
  type StreamStateEvent,
} from './reconnecting-tcp-reader.js';

export { DEFAULT_STREAM_PORT } from '../util/stream-address.js';
export type { StreamState, StreamStateEvent } from './reconnecting-tcp-reader.js';

/** A peer that sent this many bytes without an Annex-B start code is not an H.264 camera: 1 MiB. */
export const NO_START_CODE_LIMIT_BYTES = 1024 * 1024;

/** One access unit as delivered to the application. */
export interface ClientFrame {
  /** Annex-B bytes (4-byte start codes), decodable: a key frame starts with SPS and PPS. No AUD. */
  readonly data: Uint8Array;
  /** An IDR access unit: a decoder can start here. */
  readonly isKey: boolean;
  /**
   * Presentation time in 90 kHz units: from the capture-time SEI when the
   * camera sends it (relative to the first frame of this connection object),
   * else frame count x 90000 / fps (VUI timing, else `options.fps`). Always increasing: where
   * capture times stall or step back, the nominal frame interval is used.
   */
  readonly pts90k: number;
  /** Camera capture wall-clock time, ms since the Unix epoch, from Rearview's capture-time SEI; undefined for other cameras. */
  readonly capturedAtMs: number | undefined;
  /** Wall-clock time (ms since the epoch, the injected clock) when the frame's last byte arrived. */
  readonly receivedAtMs: number;
  /** Frames received since connect() (across reconnects), starting at 0; gaps are frames skipped by the 'latest' policy. */
  readonly seq: number;
  /** RFC 6381 codec string of the SPS in force, e.g. "avc1.42c01e"; '' before any SPS. */
  readonly codec: string;
  /** Picture size in pixels after cropping, from the SPS in force; 0 before any SPS. */
  readonly width: number;
  readonly height: number;
  /** nal_unit_type of each NAL unit in `data`, in order. */
  readonly nalTypes: readonly number[];
  /** The NAL units of `data` without start codes (views into `data`), in order. */
  readonly nals: readonly Uint8Array[];
  /**
   * With `join: 'live-edge'`: a frame of the burst a server sends a new client (the GOP it cached,
   * older than live). Decode it, since later frames refer to it, but do not show it: the first frame
   * with `catchUp` false is the live edge. Always false with `join: 'latest-keyframe'`.
   */
  readonly catchUp: boolean;
}

/**
 * How the library treats the start of a connection (docs/client.md "Joining at the live edge"):
 * `'live-edge'` flags the frames a server sends at once from its join cache as `catchUp`;
 * `'latest-keyframe'` flags nothing (every frame as it came).
 */
export type ClientJoin = 'live-edge' | 'latest-keyframe';

/** Options of {@link connect}. */
export interface ConnectOptions extends ReconnectOptions {
  /** 'latest' (default): a slow consumer skips to the newest keyframe. 'all': every frame, with backpressure on the socket. */
  policy?: ConsumerPolicy;
  /*
   * Reconnecting (reconnect, maxRetries: the iterator then throws ERR_CLIENT_CONNECT, initialBackoffMs,
   * maxBackoffMs, connectTimeoutMs, idleTimeoutMs) and signal: see ReconnectOptions.
   */
  /** Flag the join burst as catch-up frames ('live-edge') or not. Default 'live-edge' with policy 'latest', else 'latest-keyframe'. */
  join?: ClientJoin;
  /** 'all': pause the socket when this many frames wait. Default 60. */
  highWaterFrames?: number;
  /** 'latest': most frames kept while no keyframe comes. Default 300. */
  maxQueueFrames?: number;
  /** Largest NAL unit accepted, bytes. Default 16 MiB. */
  maxNalBytes?: number;
  /** Frame rate assumed for pts90k when the stream has neither capture times nor VUI timing. Default 30. */
  fps?: number;
  /** Called on every state change (same payload as the 'state' event). */
  onState?: (event: StreamStateEvent) => void;
  /** Wall clock for receivedAtMs, ms since the epoch. Default Date.now. */
  clock?: () => number;
}

/** Counters of a {@link StreamConnection}. */
export interface StreamStats {
  /** Access units received (including skipped ones and those before the first keyframe). */
  framesReceived: number;
  /** Frames handed to the consumer. */
  framesDelivered: number;
  /** Frames dropped by the 'latest' policy. */
  framesSkipped: number;
  /** Frames dropped while waiting for a keyframe after (re)connecting. */
  framesBeforeKey: number;
  /** Bytes read from sockets. */
  bytesReceived: number;
  /** Successful connections (1 + reconnects). */
  connections: number;
  /** Times the 'all' policy paused the socket because the consumer fell behind. */
  pauses: number;
  /** Frames delivered flagged `catchUp` (join: 'live-edge'). */
  catchUpFrames: number;
}

/** A frame as queued: with its lead over the connection's first frame, for the live-edge test. */
type QueuedFrame = { -readonly [K in keyof ClientFrame]: ClientFrame[K] } & { lead: number };

/** Events of a {@link StreamConnection}: 'state' for every change, and one event per state name. */
export interface StreamConnectionEvents {
  state: [StreamStateEvent];
  connecting: [StreamStateEvent];
  connected: [StreamStateEvent];
  disconnected: [StreamStateEvent];
  reconnecting: [StreamStateEvent];
  closed: [StreamStateEvent];
  /** Recoverable bitstream problems (a NAL over the cap); the stream continues. */
  streamError: [H264Error];
}

/**
 * Parses `tcp://host:port`, `host:port` or `host` (port 5000) into host and port.
 * Throws ConfigError (ERR_CONFIG) for anything else.
 */
export function parseStreamUrl(url: string): { host: string; port: number; url: string } {
  return parseStreamAddress(url);
}

interface SpsInfo {
  nal: Uint8Array;
  codec: string;
  width: number;
  height: number;
  fps: number | null;
}

/**
 * A live stream connection: an async iterable of {@link ClientFrame} (one
 * consumer) and an event emitter of state changes. Created and started by
 * {@link connect}.
 */
export class StreamConnection extends EventEmitter<StreamConnectionEvents> implements AsyncIterable<ClientFrame> {
  /** Normalised `tcp://host:port`. */
  readonly url: string;
  private readonly fps: number;
  private readonly clock: () => number;
  private readonly queue: FrameQueue<QueuedFrame>;
  private readonly join: ClientJoin;
  /**
   * Live-edge state of the current connection: true from its first keyframe until a frame is
   * handed out that is not catch-up. `joinBase` is the first frame's capture and arrival time.
   */
  private joining = false;
  private joinBase: { capturedMs: number; receivedMs: number; seq: number } | undefined;
  /** Lead of the newest frame received (see accessUnit). */
  private newestLead = 0;
  /** Resolves a next() that waits for evidence that its frame is not the newest. */
  private arrival: (() => void) | undefined;
  private readonly framer: AnnexBFramer;
  private readonly reader: ReconnectingTcpReader;
  private waitingForKey = true;
  private seq = 0;
  private spsInfo: SpsInfo | undefined;
  private firstCapturedAtMs: number | undefined;
  private lastPts90k: number | undefined;
  private waiter: { resolve: () => void } | undefined;
  /** Counters, updated live. */
  readonly stats: StreamStats = {
    framesReceived: 0,
    framesDelivered: 0,
    framesSkipped: 0,
    framesBeforeKey: 0,
    bytesReceived: 0,
    connections: 0,
    pauses: 0,
    catchUpFrames: 0,
  };

  /** Throws ConfigError (ERR_CONFIG) for a bad address, TypeError/RangeError for a bad option. */
  constructor(url: string, options: ConnectOptions = {}) {
    super();
    const policy = options.policy ?? 'latest';
    if (policy !== 'all' && policy !== 'latest')
      throw new TypeError(`policy must be 'all' or 'latest', got ${JSON.stringify(policy)}`);
    this.join = options.join ?? (policy === 'latest' ? 'live-edge' : 'latest-keyframe');
    if (this.join !== 'live-edge' && this.join !== 'latest-keyframe')
      throw new TypeError(`join must be 'live-edge' or 'latest-keyframe', got ${JSON.stringify(this.join)}`);
    this.fps = options.fps ?? 30;
    if (!Number.isFinite(this.fps) || this.fps < 0)
      throw new RangeError(`fps must be a non-negative number, got ${this.fps}`);
    this.clock = options.clock ?? Date.now;
    if (options.onState) this.on('state', options.onState);
    this.reader = new ReconnectingTcpReader(url, options, {
      onData: (chunk) => this.onData(chunk),
      onState: (event) => this.onState(event),
      // The sender closed cleanly: a raw stream without AUDs ends its last frame only at EOF, so emit it
      // (the framer drops it when AUDs showed that it is a frame cut short). After a reset or a timeout
      // the pending frame may be cut anywhere: dropped.
      onEnd: (clean) => {
        if (clean) this.framer.flush();
      },
    });
    this.url = this.reader.url;
    this.queue = new FrameQueue<QueuedFrame>({
      policy,
      ...(options.highWaterFrames === undefined ? {} : { highWaterFrames: options.highWaterFrames }),
      ...(options.maxQueueFrames === undefined ? {} : { maxFrames: options.maxQueueFrames }),
      onPause: (pause) => {
        if (pause) {
          this.stats.pauses++;
          this.reader.pause();
        } else this.reader.resume();
      },
    });
    this.framer = new AnnexBFramer({
      ...(options.maxNalBytes === undefined ? {} : { maxNalBytes: options.maxNalBytes }),
      onAccessUnit: (au) => this.accessUnit(au),
      onError: (err) => {
        if (this.listenerCount('streamError') > 0) this.emit('streamError', err);
      },
    });
  }

  /** The current state. */
  get state(): StreamState {
    return this.reader.state;
  }

  /** Frames waiting for the consumer. */
  get queuedFrames(): number {
    return this.queue.length;
  }

  /** Starts connecting (connect() already did). Idempotent. */
  start(): void {
    this.reader.start();
  }

  /** Stops: closes the socket, cancels reconnects, ends the iteration (queued frames are discarded). Idempotent. */
  close(): Promise<void> {
    if (this.reader.closed) return Promise.resolve();
    this.queue.clear();
    return this.reader.close();
  }

  /**
   * The next frame; undefined when the connection was closed. Throws ClientError (ERR_CLIENT_CONNECT)
   * when it gave up reconnecting, H264Error (ERR_H264_NO_START_CODE) when the peer sent 1 MiB that is
   * not H.264 (never retried).
   */
  async next(): Promise<ClientFrame | undefined> {
    this.start();
    for (;;) {
      const frame = this.queue.shift();
      if (frame) {
        if (this.joining) await this.judgeCatchUp(frame);
        this.stats.framesDelivered++;
        if (frame.catchUp) this.stats.catchUpFrames++;
        const { lead: _lead, ...out } = frame;
        return out;
      }
      if (this.reader.failure) throw this.reader.failure;
      if (this.reader.closed) return undefined;
      await new Promise<void>((resolve) => {
        this.waiter = { resolve };
      });
    }
  }

  /** Iterates frames until close(), abort, or a final failure (thrown). Breaking out of the loop closes the connection. */
  [Symbol.asyncIterator](): AsyncIterator<ClientFrame> {
    return {
      next: async (): Promise<IteratorResult<ClientFrame>> => {
        const frame = await this.next();
        return frame ? { value: frame, done: false } : { value: undefined, done: true };
      },
      return: async (): Promise<IteratorResult<ClientFrame>> => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }

  /**
   * While joining: a frame is catch-up when a frame received after it leads it by half a frame
   * interval or more (it was captured that much later yet arrived about as soon: a burst). When
   * no later frame has arrived yet, waits up to half a frame interval for one, since a burst
   * read in several socket chunks would otherwise end the join at a chunk's last frame. The
   * first frame that is not catch-up ends the join.
   */
  private async judgeCatchUp(frame: QueuedFrame): Promise<void> {
    const half = 500 / (this.currentFps() || 30);
    if (this.newestLead - frame.lead < half && !this.reader.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, half);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.arrival = done;
      });
      this.arrival = undefined;
    }
    if (this.newestLead - frame.lead >= half) frame.catchUp = true;
    else this.joining = false;
  }

  private currentFps(): number {
    return this.spsInfo?.fps ?? this.fps;
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve();
  }

  private onState(event: StreamStateEvent): void {
    if (event.state === 'connecting') {
      // A new connection is a new byte stream: forget the partial frame and wait for a keyframe.
      this.framer.reset();
      this.waitingForKey = true;
      this.joinBase = undefined;
      this.queue.resetPause();
    } else if (event.state === 'connected') this.stats.connections++;
    this.emit('state', event);
    this.emit(event.state, event);
    if (event.state === 'closed') this.wake();
  }

  private onData(chunk: Buffer): void {
    this.stats.bytesReceived += chunk.length;
    this.framer.push(chunk);
    if (!this.framer.foundStartCode && this.framer.bytesSeen > NO_START_CODE_LIMIT_BYTES) {
      this.reader.fail(
        new H264Error(
          'ERR_H264_NO_START_CODE',
          `${this.url}: not an H.264 stream: no start code in the first ${this.framer.bytesSeen} bytes`,
        ),
      );
    }
  }

  private describeSps(nal: Uint8Array, sps: SequenceParameterSet | undefined): SpsInfo {
    if (this.spsInfo && sameBytes(this.spsInfo.nal, nal) && (this.spsInfo.width > 0 || !sps)) return this.spsInfo;
    let codec = '';
    try {
      codec = codecString(nal);
    } catch {
      // An SPS we cannot read: still pass the frames on; the decoder may know better.
    }
    const width = sps?.width ?? 0;
    const height = sps?.height ?? 0;
    const fps = sps?.fps ?? null;
    this.spsInfo = { nal: Uint8Array.from(nal), codec, width, height, fps };
    return this.spsInfo;
  }

  private accessUnit(au: FramedAccessUnit): void {
    if (this.reader.closed) return;
    const receivedAtMs = this.clock();
    const seq = this.seq++;
    this.stats.framesReceived++;
    if (this.waitingForKey) {
      if (!au.isKey) {
        this.stats.framesBeforeKey++;
        return;
      }
      this.waitingForKey = false;
      this.reader.connectionWorks(); // the next failure starts the backoff again
      this.joining = this.join === 'live-edge';
      this.joinBase = undefined;
    }
    const info = au.sps ? this.describeSps(au.sps, au.parsedSps) : undefined;
    const fps = info?.fps ?? this.fps;
    const frame90k = Math.round(90000 / (fps > 0 ? fps : 30));
    let pts90k: number;
    if (au.capturedAtMs !== undefined) {
      this.firstCapturedAtMs ??= au.capturedAtMs;
      pts90k = Math.round((au.capturedAtMs - this.firstCapturedAtMs) * 90);
    } else {
      pts90k = seq * frame90k;
    }
    // Keep timestamps increasing: a capture clock that stalls or steps back (a loaded camera, an NTP
    // correction) gets the nominal frame interval instead, as muxers and decoders require.
    if (this.lastPts90k !== undefined && pts90k <= this.lastPts90k) pts90k = this.lastPts90k + frame90k;
    this.lastPts90k = pts90k;
    // Lead: how much later than the connection's first frame this one was captured (the capture-time
    // SEI, else the nominal frame interval), less how much later it arrived. A burst of cached frames
    // raises it by a frame interval per frame; live frames keep it about level.
    const capturedMs = au.capturedAtMs ?? (seq * frame90k) / 90;
    this.joinBase ??= { capturedMs, receivedMs: receivedAtMs, seq };
    const lead = capturedMs - this.joinBase.capturedMs - (receivedAtMs - this.joinBase.receivedMs);
    this.newestLead = lead;
    const joined = joinAnnexB(au.nals);
    const frame: QueuedFrame = {
      catchUp: false,
      lead,
      data: joined.data,
      nals: joined.views,
      isKey: au.isKey,
      pts90k,
      capturedAtMs: au.capturedAtMs,
      receivedAtMs,
      seq,
      codec: info?.codec ?? '',
      width: info?.width ?? 0,
      height: info?.height ?? 0,
      nalTypes: au.types,
    };
    const before = this.queue.skipped;
    this.queue.push(frame);
    this.stats.framesSkipped += this.queue.skipped - before;
    this.wake();
    this.arrival?.();
  }
}

/**
 * Connects to a live stream (`tcp://host:port`, `host:port` or `host`, port
 * 5000 by default) and returns the started connection: iterate it with
 * `for await`, listen to its 'state' events, close() it or abort its signal.
 */
export function connect(url: string, options: ConnectOptions = {}): StreamConnection {
  const connection = new StreamConnection(url, options);
  connection.start();
  return connection;
}
