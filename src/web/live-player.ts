/**
 * The live view: connects to the camera's WebSocket stream, feeds a
 * renderer (WebCodecs, or the MSE fallback), reconnects with backoff, and
 * keeps the figures shown in the overlay. Exposes its state on
 * `window.__rearview` for the browser tests and the latency benchmark.
 */
import { ClockSync } from './clock-sync.js';
import {
  MseRenderer,
  WebCodecsRenderer,
  type DecodePath,
  type LiveRenderer,
  type PictureCallback,
} from './live-renderers.js';
import { parseLiveFrame, parseLiveText, type LiveConfig, type LiveFrame } from '../outputs/ws-protocol.js';
import { browserAbilities, mediaSourcePath, type LivePath } from './live-path.js';

export type { LivePath } from './live-path.js';

/** Connection state shown to the viewer. */
export type LiveState = 'connecting' | 'live' | 'no-video' | 'offline';

/** Figures of the last second, for the overlay. */
export interface LiveStats {
  path: LivePath;
  state: LiveState;
  /** Pictures shown per second. */
  fps: number;
  /** Received stream bits per second. */
  bitrateBps: number;
  width: number;
  height: number;
  /**
   * Frames lost once the picture was live: skipped to a keyframe, waiting after a gap (the
   * WebSocket paths; not the join's catch-up), or the browser's framesDropped (WebRTC).
   */
  drops: number;
  /** Median capture-to-display latency over the last second, ms; undefined without pictures. */
  latencyMs: number | undefined;
  /** Camera clock minus browser clock, ms (undefined until measured). */
  clockOffsetMs: number | undefined;
  /** The part of the offset applied: 0 while the clocks agree within the measurement's uncertainty. */
  clockCorrectionMs: number;
  /** Round trip of the clock measurement: latency is known to within half of it. */
  clockRttMs: number | undefined;
  /** Milliseconds from navigation start to the first picture. */
  firstPictureMs: number | undefined;
  /** Seconds until the next reconnection attempt (offline state). */
  retryInS: number | undefined;
}

/** What tests and the benchmark read from `window.__rearview`. */
export interface LiveProbe {
  path: LivePath;
  state: LiveState;
  framesShown: number;
  /** Frames handed to the decoder (WebCodecs or MSE); frames skipped while the tab is hidden are not. */
  framesFed: number;
  /** Every capture-to-display latency sample so far (ms, clock-corrected), capped at 200k. */
  latencies: number[];
  /** The same samples without the clock correction (browser clock minus capture time). */
  latenciesRaw: number[];
  /** Capture to decoder output, before drawing (WebCodecs only; uncorrected). */
  decodedLatenciesRaw: number[];
  /** Capture to message received (browser clock minus capture time, uncorrected), per frame received: the server and network share. */
  receiveLatenciesRaw: number[];
  firstPictureMs: number | undefined;
  config: LiveConfig | undefined;
  stats: LiveStats | undefined;
  errors: string[];
}

/** Options of {@link LivePlayer}. */
export interface LivePlayerOptions {
  /** WebSocket URL of the stream. */
  url: string;
  canvas: HTMLCanvasElement;
  video: HTMLVideoElement;
  /** Called about once a second and on state changes. */
  onStats: (stats: LiveStats) => void;
  /** Called with the config message (camera name, size). */
  onConfig?: (config: LiveConfig) => void;
  /** The decoding path (app.ts picks it with live-path.ts); default: WebCodecs when available, else MSE or ManagedMediaSource. */
  forcePath?: DecodePath;
  /** Called when the player had to change its decoding path. */
  onPathChange?: (path: DecodePath) => void;
}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;
/** Connected but no frame for this long: the camera is not sending video. */
const NO_VIDEO_MS = 3000;

/** The live view controller; see the file comment. */
export class LivePlayer {
  /** The decoding path in use (can change once: WebCodecs -> MSE/MMS when the codec is unsupported). */
  path: DecodePath;
  private renderer: LiveRenderer;
  private readonly clock = new ClockSync();
  private ws: WebSocket | undefined;
  private state: LiveState = 'connecting';
  private backoffMs = BACKOFF_MIN_MS;
  private retryAtMs: number | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private tick: ReturnType<typeof setInterval> | undefined;
  private lastFrameAtMs = 0;
  private config: LiveConfig | undefined;
  private closed = false;
  private hidden = false;
  /** This connection's first config message came (the join time is known). */
  private joined = false;
  /** Camera time this viewer (re)joined at; see LiveRenderer.joined. */
  private joinedAtMs: number | undefined;
  // Per-second window.
  private windowBytes = 0;
  private windowPictures = 0;
  /** Capture times of the first and last picture shown in the window. */
  private windowFirstCaptureMs: number | undefined;
  private windowLastCaptureMs = 0;
  private windowLatencies: number[] = [];
  private width = 0;
  private height = 0;
  private lastStats: LiveStats | undefined;
  private readonly probe: LiveProbe;

  constructor(private readonly options: LivePlayerOptions) {
    const abilities = browserAbilities();
    this.path = options.forcePath ?? (abilities.webCodecs ? 'webcodecs' : (mediaSourcePath(abilities) ?? 'mse'));
    const onError = (message: string): void => {
      this.probe.errors.push(message);
      if (this.probe.errors.length > 50) this.probe.errors.shift();
      console.warn(`rearview live: ${message}`);
    };
    const onPicture: PictureCallback = (capturedAtMs, width, height, decodedAtMs) =>
      this.picture(capturedAtMs, width, height, decodedAtMs);
    this.renderer =
      this.path === 'webcodecs'
        ? new WebCodecsRenderer(options.canvas, onPicture, onError, () => this.fallBackToMse(onPicture, onError))
        : new MseRenderer(options.video, onPicture, onError, this.path === 'mms');
    options.canvas.hidden = this.path !== 'webcodecs';
    options.video.hidden = this.path === 'webcodecs';
    this.probe = {
      path: this.path,
      state: this.state,
      framesShown: 0,
      framesFed: 0,
      latencies: [],
      latenciesRaw: [],
      decodedLatenciesRaw: [],
      receiveLatenciesRaw: [],
      firstPictureMs: undefined,
      config: undefined,
      stats: undefined,
      errors: [],
    };
    (globalThis as { __rearview?: LiveProbe }).__rearview = this.probe;
  }

  /** WebCodecs cannot decode this stream here (unsupported profile or codec): use MSE (or MMS) from now on. */
  private fallBackToMse(onPicture: PictureCallback, onError: (message: string) => void): void {
    if (this.path !== 'webcodecs' || this.closed) return;
    const next = mediaSourcePath(browserAbilities());
    if (!next) {
      onError('WebCodecs cannot decode this stream here, and this browser has no Media Source Extensions');
      return;
    }
    onError(
      `WebCodecs cannot decode this stream here; switching to ${next === 'mse' ? 'Media Source Extensions' : 'ManagedMediaSource'}`,
    );
    this.renderer.close();
    this.path = next;
    this.probe.path = next;
    this.renderer = new MseRenderer(this.options.video, onPicture, onError, next === 'mms');
    if (this.joinedAtMs !== undefined) this.renderer.joined(this.joinedAtMs);
    this.options.canvas.hidden = true;
    this.options.video.hidden = false;
    if (this.config) this.renderer.configure(this.config);
    this.options.onPathChange?.(next);
    this.emitStats();
  }

  /** Connects and keeps connecting until closed. */
  start(): void {
    this.connect();
    this.tick = setInterval(() => this.everySecond(), 1000);
    document.addEventListener('visibilitychange', this.onVisibility);
  }

  private readonly onVisibility = (): void => {
    this.hidden = document.visibilityState === 'hidden';
    // Back from hidden: never play the frames of the time away.
    if (!this.hidden) this.renderer.resync();
  };

  private connect(): void {
    if (this.closed) return;
    this.setState('connecting');
    this.retryAtMs = undefined;
    const ws = new WebSocket(this.options.url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.clock.reset();
    this.joined = false;
    ws.onopen = () => {
      this.lastFrameAtMs = performance.now();
      // A burst of pings at the start (the first replies are often slow while
      // the first pictures decode), then one a second from everySecond().
      let n = 0;
      const burst = (): void => {
        if (this.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
        ws.send(JSON.stringify(this.clock.ping()));
        if (++n < 8) setTimeout(burst, 150);
      };
      burst();
    };
    ws.onmessage = (event: MessageEvent) => {
      if (typeof event.data === 'string') this.onText(event.data);
      else this.onBinary(event.data as ArrayBuffer);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows and schedules the retry.
    };
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    this.setState('offline');
    const delay = this.backoffMs * (0.8 + Math.random() * 0.4);
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    this.retryAtMs = performance.now() + delay;
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.emitStats();
  }

  private onText(text: string): void {
    const msg = parseLiveText(text);
    if (!msg) return;
    if (msg.type === 'config') {
      // The connection's first config is sent as this viewer joins: frames captured before it
      // are the cached GOP's history, skipped to reach the live edge, not frames the viewer missed.
      if (!this.joined) {
        this.joined = true;
        this.joinedAtMs = msg.serverTimeMs;
        this.renderer.joined(msg.serverTimeMs);
      }
      this.config = msg;
      this.probe.config = msg;
      this.renderer.configure(msg);
      this.options.onConfig?.(msg);
    } else {
      this.clock.pong(msg.id, msg.serverTimeMs);
    }
  }

  private onBinary(data: ArrayBuffer): void {
    let frame: LiveFrame;
    try {
      frame = parseLiveFrame(data);
    } catch (err) {
      this.probe.errors.push((err as Error).message);
      return;
    }
    this.windowBytes += data.byteLength;
    this.lastFrameAtMs = performance.now();
    if (this.probe.receiveLatenciesRaw.length < 200_000)
      this.probe.receiveLatenciesRaw.push(Date.now() - frame.capturedAtMs);
    if (this.state !== 'live') {
      this.setState('live');
      // A working stream resets the backoff.
      this.backoffMs = BACKOFF_MIN_MS;
    }
    if (this.hidden) {
      // Nobody is looking: decode nothing, resync on return.
      this.renderer.resync();
      return;
    }
    this.probe.framesFed++;
    this.renderer.push(frame);
  }

  private picture(capturedAtMs: number, width: number, height: number, decodedAtMs?: number): void {
    this.probe.framesShown++;
    this.windowPictures++;
    this.windowFirstCaptureMs ??= capturedAtMs;
    this.windowLastCaptureMs = capturedAtMs;
    this.width = width;
    this.height = height;
    if (this.probe.firstPictureMs === undefined) {
      this.probe.firstPictureMs = performance.now();
      this.emitStats();
    }
    const nowMs = Date.now();
    const latency = nowMs + this.clock.correctionMs - capturedAtMs;
    this.windowLatencies.push(latency);
    if (this.probe.latencies.length < 200_000) {
      this.probe.latencies.push(latency);
      this.probe.latenciesRaw.push(nowMs - capturedAtMs);
      if (decodedAtMs !== undefined) this.probe.decodedLatenciesRaw.push(decodedAtMs - capturedAtMs);
    }
  }

  private everySecond(): void {
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(this.clock.ping()));
      // Connected (just now, or streaming before) but no frames: say so rather than "connecting".
      if (
        (this.state === 'live' || this.state === 'connecting') &&
        performance.now() - this.lastFrameAtMs > NO_VIDEO_MS
      )
        this.setState('no-video');
    }
    this.emitStats();
    this.windowBytes = 0;
    this.windowPictures = 0;
    this.windowFirstCaptureMs = undefined;
    this.windowLatencies = [];
  }

  /**
   * Pictures per second of camera time: a catch-up burst (joining with the
   * cached GOP) shows many pictures in one wall-clock second but is still 30 fps.
   */
  private pictureRate(): number {
    const span = this.windowLastCaptureMs - (this.windowFirstCaptureMs ?? this.windowLastCaptureMs);
    if (this.windowPictures < 2 || span <= 0) return this.windowPictures;
    return Math.round(((this.windowPictures - 1) * 1000) / span);
  }

  private setState(state: LiveState): void {
    if (this.state === state) return;
    this.state = state;
    this.probe.state = state;
    this.emitStats();
  }

  private emitStats(): void {
    const sorted = [...this.windowLatencies].sort((a, b) => a - b);
    const median = sorted.length > 0 ? sorted[Math.floor(sorted.length / 2)] : undefined;
    const stats: LiveStats = {
      path: this.path,
      state: this.state,
      fps: this.pictureRate(),
      bitrateBps: this.windowBytes * 8,
      width: this.width || this.config?.width || 0,
      height: this.height || this.config?.height || 0,
      drops: this.renderer.drops,
      latencyMs: median ?? this.lastStats?.latencyMs,
      clockOffsetMs: this.clock.offsetMs,
      clockCorrectionMs: this.clock.correctionMs,
      clockRttMs: this.clock.rttMs,
      firstPictureMs: this.probe.firstPictureMs,
      retryInS:
        this.retryAtMs !== undefined ? Math.max(0, Math.ceil((this.retryAtMs - performance.now()) / 1000)) : undefined,
    };
    this.lastStats = stats;
    this.probe.stats = stats;
    this.options.onStats(stats);
  }

  /** Stops streaming and releases the decoder. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.tick);
    document.removeEventListener('visibilitychange', this.onVisibility);
    const ws = this.ws;
    this.ws = undefined;
    ws?.close();
    this.renderer.close();
  }
}
