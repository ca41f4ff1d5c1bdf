/**
 * The two ways the live page turns frames into pictures.
 *
 * WebCodecsRenderer: VideoDecoder with Annex-B chunks (no description: each
 * key chunk carries SPS+PPS+IDR) and optimizeForLatency, drawing on a canvas
 * in the output callback, so a picture appears the moment it is decoded.
 * When it falls behind (decode queue growing) it resets at the next keyframe
 * instead of playing late frames.
 *
 * MseRenderer: the fallback where WebCodecs is missing (plain http on a LAN
 * address is not a secure context). Frames become one-sample fragmented MP4
 * segments appended to a SourceBuffer; the video element is pushed to the
 * live edge whenever its buffer grows past a few frames.
 */
import { splitAnnexB } from '../h264/annexb-scanner.js';
import { FMP4_TIMESCALE, initSegment, mediaSegment } from './fmp4-writer.js';
import type { LiveConfig, LiveFrame } from '../outputs/ws-protocol.js';

/** Which decoding path the page uses. */
export type DecodePath = 'webcodecs' | 'mse';

/**
 * Called for each picture shown: capture time (camera clock), size, and the
 * browser wall-clock time the decoder delivered it (before drawing), when known.
 */
export type PictureCallback = (capturedAtMs: number, width: number, height: number, decodedAtMs?: number) => void;

/** What the live player needs from a renderer. */
export interface LiveRenderer {
  readonly path: DecodePath;
  /** The element that shows the picture (canvas or video). */
  readonly element: HTMLElement;
  /** New stream parameters: the next frame to decode must be a keyframe. */
  configure(config: LiveConfig): void;
  /** One access unit as received. */
  push(frame: LiveFrame): void;
  /** Frames thrown away so far (waiting for a keyframe, catching up). */
  readonly drops: number;
  /** The tab was hidden and is visible again: skip to the newest picture. */
  resync(): void;
  close(): void;
}

/** True when this page can use WebCodecs for H.264. */
export function hasWebCodecs(): boolean {
  return typeof (globalThis as { VideoDecoder?: unknown }).VideoDecoder === 'function';
}

/** Decode queue length that counts as "behind": reset at the next keyframe. */
const BEHIND_QUEUE = 3;
/** Decode queue length at which we stop feeding deltas and wait for a keyframe (above a GOP: the join burst from the GOP cache must decode). */
const GIVE_UP_QUEUE = 45;

/** WebCodecs renderer; see the file comment. */
export class WebCodecsRenderer implements LiveRenderer {
  readonly path = 'webcodecs' as const;
  drops = 0;
  private decoder: VideoDecoder | undefined;
  private config: LiveConfig | undefined;
  private needKey = true;
  private readonly ctx: CanvasRenderingContext2D;
  /** chunk timestamp (µs) -> capture time, to match outputs to inputs. */
  private readonly captureTimes = new Map<number, number>();
  /** Chunk timestamps of catch-up frames (a live-edge join's burst): decoded, never drawn. */
  private readonly catchUp = new Set<number>();
  private timestampUs = 0;

  constructor(
    readonly element: HTMLCanvasElement,
    private readonly onPicture: PictureCallback,
    private readonly onError: (message: string) => void,
    /** Called when the browser's WebCodecs cannot decode the stream at all (the player then uses MSE). */
    private readonly onUnsupported: () => void = () => undefined,
  ) {
    const ctx = element.getContext('2d', { alpha: false, desynchronized: true });
    if (!ctx) throw new Error('canvas 2d context unavailable');
    this.ctx = ctx;
  }

  configure(config: LiveConfig): void {
    this.config = config;
    this.reset();
    // Configure at once (no first keyframe lost to waiting), and ask in parallel
    // whether this browser can decode it at all.
    void VideoDecoder.isConfigSupported(this.decoderConfig(config)).then(
      (support) => {
        if (support.supported === false && this.config === config) this.onUnsupported();
      },
      () => {
        // cannot tell: configure() itself reports a decoder that fails
      },
    );
  }

  private decoderConfig(config: LiveConfig): VideoDecoderConfig {
    return { codec: config.codec, optimizeForLatency: true, hardwareAcceleration: 'no-preference' };
  }

  private reset(): void {
    if (!this.config) return;
    if (!this.decoder || this.decoder.state === 'closed') {
      this.decoder = new VideoDecoder({
        output: (frame) => this.output(frame),
        error: (err) => {
          if (err.name === 'NotSupportedError' || /unsupported config/i.test(err.message)) {
            this.onUnsupported();
            return;
          }
          // The decoder is closed after an error: a new one starts at the next keyframe.
          this.onError(`decoder error: ${err.message}`);
          this.decoder = undefined;
          this.needKey = true;
        },
      });
    } else {
      this.decoder.reset();
    }
    this.captureTimes.clear();
    this.catchUp.clear();
    this.needKey = true;
    try {
      this.decoder.configure(this.decoderConfig(this.config));
    } catch (err) {
      // A codec string this browser's WebCodecs does not even parse.
      this.onError(`decoder configure failed: ${(err as Error).message}`);
      this.decoder = undefined;
      this.onUnsupported();
    }
  }

  push(frame: LiveFrame): void {
    if (!this.config) return;
    if (frame.discontinuity) this.needKey = true;
    if (!this.decoder || this.decoder.state === 'closed') this.reset();
    const decoder = this.decoder;
    if (!decoder) return;
    if (frame.isKey && decoder.decodeQueueSize >= BEHIND_QUEUE) {
      // Behind: drop what is queued and start over at this, the newest, keyframe.
      this.drops += decoder.decodeQueueSize;
      this.reset();
    } else if (!frame.isKey && decoder.decodeQueueSize >= GIVE_UP_QUEUE) {
      this.needKey = true;
    }
    if (this.needKey && !frame.isKey) {
      this.drops++;
      return;
    }
    this.needKey = false;
    // Our own monotonic timestamps: pts may jump across source restarts.
    this.timestampUs += 1;
    const timestamp = this.timestampUs;
    this.captureTimes.set(timestamp, frame.capturedAtMs);
    if (this.captureTimes.size > 256) this.captureTimes.delete(this.captureTimes.keys().next().value as number);
    if (frame.catchUp) {
      this.catchUp.add(timestamp);
      if (this.catchUp.size > 512) this.catchUp.delete(this.catchUp.values().next().value as number);
    }
    try {
      decoder.decode(new EncodedVideoChunk({ type: frame.isKey ? 'key' : 'delta', timestamp, data: frame.payload }));
    } catch (err) {
      // Closed or unconfigured after an error: start again at the next keyframe.
      this.onError(`decode failed: ${(err as Error).message}`);
      this.needKey = true;
    }
  }

  private output(frame: VideoFrame): void {
    if (this.catchUp.delete(frame.timestamp)) {
      // Older than the live edge: decoded for the frames that refer to it, not shown.
      this.captureTimes.delete(frame.timestamp);
      frame.close();
      return;
    }
    const decodedAtMs = Date.now();
    const canvas = this.element;
    const w = frame.displayWidth;
    const h = frame.displayHeight;
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    this.ctx.drawImage(frame, 0, 0, w, h);
    const captured = this.captureTimes.get(frame.timestamp);
    this.captureTimes.delete(frame.timestamp);
    frame.close();
    if (captured !== undefined) this.onPicture(captured, w, h, decodedAtMs);
  }

  resync(): void {
    // Frames that arrived while hidden were dropped; continue at the next keyframe.
    this.needKey = true;
  }

  close(): void {
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = undefined;
  }
}

/** Buffered seconds past the playhead past which the playhead jumps to the live edge. */
const MSE_MAX_BEHIND_S = 0.3;
/** Past this (but under MSE_MAX_BEHIND_S) the video plays slightly fast to catch up without a visible jump. */
const MSE_CATCH_UP_S = 0.08;

/** MSE + fragmented MP4 renderer; see the file comment. */
export class MseRenderer implements LiveRenderer {
  readonly path = 'mse' as const;
  drops = 0;
  /** Times the playhead was moved forward to the live edge. */
  jumps = 0;
  private readonly mediaSource: MediaSource;
  private sourceBuffer: SourceBuffer | undefined;
  private config: LiveConfig | undefined;
  private needInit = true;
  /** Frames were skipped (tab hidden): the next appended frame must be a keyframe. */
  private needKey = false;
  private readonly queue: Uint8Array[] = [];
  private sequence = 1;
  private decodeTime90k = 0;
  private lastPts90k: number | undefined;
  /** media time (s) of each appended frame -> capture time, oldest first. */
  private readonly times: Array<{ mediaTimeS: number; capturedAtMs: number }> = [];
  private lastTrimS = 0;
  /** Appending a live-edge join's catch-up frames; then the media time of the first live one, to jump to. */
  private catchingUp = false;
  private liveEdgeS: number | undefined;
  private closed = false;
  private readonly objectUrl: string;
  private frameCallbackId = 0;

  constructor(
    readonly element: HTMLVideoElement,
    private readonly onPicture: PictureCallback,
    private readonly onError: (message: string) => void,
  ) {
    this.mediaSource = new MediaSource();
    this.objectUrl = URL.createObjectURL(this.mediaSource);
    element.muted = true;
    element.playsInline = true;
    element.src = this.objectUrl;
    this.mediaSource.addEventListener('sourceopen', () => this.flush());
    this.watchFrames();
  }

  configure(config: LiveConfig): void {
    const codecChanged = this.config?.codec !== config.codec;
    this.config = config;
    this.needInit = true;
    if (codecChanged && this.sourceBuffer && 'changeType' in this.sourceBuffer) {
      this.queue.length = 0;
    }
  }

  push(frame: LiveFrame): void {
    if (!this.config || this.closed) return;
    if (frame.discontinuity && !frame.isKey) this.needInit = true;
    if (this.needKey) {
      if (!frame.isKey) {
        this.drops++;
        return;
      }
      this.needKey = false;
    }
    const nals = splitAnnexB(frame.payload).map((n) => n.data);
    if (this.needInit) {
      if (!frame.isKey) {
        this.drops++;
        return;
      }
      const sps = nals.find((n) => ((n[0] ?? 0) & 0x1f) === 7);
      const pps = nals.find((n) => ((n[0] ?? 0) & 0x1f) === 8);
      if (!sps || !pps) {
        this.drops++;
        return;
      }
      this.queue.push(initSegment({ width: this.config.width, height: this.config.height, sps, pps }));
      this.needInit = false;
    }
    const nominal = Math.round(FMP4_TIMESCALE / (this.config.fps || 30));
    // A monotonic decode clock from pts steps (clamped), so restarts never go backwards.
    let step = this.lastPts90k === undefined ? nominal : frame.pts90k - this.lastPts90k;
    if (!(step > 0 && step < nominal * 10)) step = nominal;
    if (this.lastPts90k !== undefined) this.decodeTime90k += step;
    this.lastPts90k = frame.pts90k;
    const samples = nals.filter((n) => {
      const t = (n[0] ?? 0) & 0x1f;
      return t !== 7 && t !== 8 && t !== 9;
    });
    this.queue.push(
      mediaSegment({
        sequence: this.sequence++,
        decodeTime90k: this.decodeTime90k,
        duration90k: nominal,
        isKey: frame.isKey,
        nals: samples,
      }),
    );
    this.times.push({ mediaTimeS: this.decodeTime90k / FMP4_TIMESCALE, capturedAtMs: frame.capturedAtMs });
    if (frame.catchUp) this.catchingUp = true;
    else if (this.catchingUp) {
      this.catchingUp = false;
      this.liveEdgeS = this.decodeTime90k / FMP4_TIMESCALE;
    }
    if (this.times.length > 600) this.times.splice(0, this.times.length - 600);
    this.flush();
  }

  private flush(): void {
    if (this.closed || this.mediaSource.readyState !== 'open' || this.queue.length === 0) return;
    if (!this.sourceBuffer) {
      if (!this.config) return;
      try {
        this.sourceBuffer = this.mediaSource.addSourceBuffer(`video/mp4; codecs="${this.config.codec}"`);
      } catch (err) {
        this.onError(`this browser cannot play ${this.config.codec}: ${(err as Error).message}`);
        return;
      }
      this.sourceBuffer.mode = 'segments';
      this.sourceBuffer.addEventListener('updateend', () => {
        this.keepLive();
        this.flush();
      });
      this.sourceBuffer.addEventListener('error', () => this.onError('media source append failed'));
    }
    const sb = this.sourceBuffer;
    if (sb.updating) return;
    // Everything waiting goes in one append.
    let size = 0;
    for (const q of this.queue) size += q.length;
    const data = new Uint8Array(size);
    let at = 0;
    for (const q of this.queue) {
      data.set(q, at);
      at += q.length;
    }
    this.queue.length = 0;
    try {
      sb.appendBuffer(data);
    } catch (err) {
      // QuotaExceeded or a closed source: start over at the next keyframe.
      this.onError(`append failed: ${(err as Error).message}`);
      this.needInit = true;
    }
  }

  /** Moves the playhead to the live edge when the buffer ahead of it grows; trims old data. */
  private keepLive(): void {
    const video = this.element;
    const sb = this.sourceBuffer;
    if (!sb || video.buffered.length === 0) return;
    const end = video.buffered.end(video.buffered.length - 1);
    const start = video.buffered.start(video.buffered.length - 1);
    const behind = end - video.currentTime;
    const edge = this.liveEdgeS;
    if (edge !== undefined && end >= edge) {
      // A live-edge join: the catch-up frames are in the buffer for decoding; play from the first live one.
      this.liveEdgeS = undefined;
      video.currentTime = Math.max(start, edge);
      this.jumps++;
    } else if (behind > MSE_MAX_BEHIND_S || video.currentTime < start) {
      video.currentTime = Math.max(start, end - 0.02);
      this.jumps++;
    }
    const rate = behind > MSE_CATCH_UP_S ? 1.15 : 1;
    if (video.playbackRate !== rate) video.playbackRate = rate;
    if (video.paused) {
      void video.play().catch(() => {
        // autoplay refused: tried again on the next append
      });
    }
    if (!sb.updating && video.currentTime - this.lastTrimS > 20) {
      const trimTo = video.currentTime - 10;
      if (trimTo > 0) {
        this.lastTrimS = video.currentTime;
        sb.remove(0, trimTo);
      }
    }
  }

  private watchFrames(): void {
    const video = this.element as HTMLVideoElement & {
      requestVideoFrameCallback?: (
        cb: (now: number, meta: { mediaTime: number; width: number; height: number }) => void,
      ) => number;
    };
    if (typeof video.requestVideoFrameCallback !== 'function') return;
    const onFrame = (_now: number, meta: { mediaTime: number; width: number; height: number }): void => {
      if (this.closed) return;
      const captured = this.captureTimeAt(meta.mediaTime);
      if (captured !== undefined) this.onPicture(captured, meta.width, meta.height);
      this.frameCallbackId = video.requestVideoFrameCallback!(onFrame);
    };
    this.frameCallbackId = video.requestVideoFrameCallback(onFrame);
  }

  private captureTimeAt(mediaTimeS: number): number | undefined {
    // Nearest appended frame (media times are sorted).
    let best: { mediaTimeS: number; capturedAtMs: number } | undefined;
    for (let i = this.times.length - 1; i >= 0; i--) {
      const t = this.times[i] as { mediaTimeS: number; capturedAtMs: number };
      if (t.mediaTimeS <= mediaTimeS + 0.001) {
        best = t;
        break;
      }
    }
    return best?.capturedAtMs;
  }

  resync(): void {
    this.needKey = true;
    this.keepLive();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const video = this.element as HTMLVideoElement & { cancelVideoFrameCallback?: (id: number) => void };
    video.cancelVideoFrameCallback?.(this.frameCallbackId);
    video.removeAttribute('src');
    video.load();
    URL.revokeObjectURL(this.objectUrl);
  }
}
