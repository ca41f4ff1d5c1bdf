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
 * live edge whenever its buffer grows past a few frames. The same renderer
 * drives a ManagedMediaSource where MediaSource is missing (iOS 17.1+).
 */
import { splitAnnexB } from '../h264/annexb-scanner.js';
import { FMP4_TIMESCALE, initSegment, mediaSegment } from './fmp4-writer.js';
import type { LiveConfig, LiveFrame } from '../outputs/ws-protocol.js';

/** Which decoding path the page uses: WebCodecs, Media Source Extensions, or ManagedMediaSource (iOS 17.1+). */
export type DecodePath = 'webcodecs' | 'mse' | 'mms';

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
  /** Frames lost once the picture was live (skipped to a keyframe, waiting after a gap); see {@link JoinTracker}. */
  readonly drops: number;
  /** This viewer (re)joined the stream at camera time `serverTimeMs` (the connection's first config message). */
  joined(serverTimeMs: number): void;
  /** The tab was hidden and is visible again: skip to the newest picture. */
  resync(): void;
  close(): void;
}

/** True when this page can use WebCodecs for H.264. */
export function hasWebCodecs(): boolean {
  return typeof (globalThis as { VideoDecoder?: unknown }).VideoDecoder === 'function';
}

/**
 * Tells frames the viewer missed from the join's catch-up. A new viewer gets
 * the camera's cached GOP at once (history, so a picture shows at once) and
 * the page skips ahead to the live edge as it can; frames skipped before the
 * first live picture (one captured after the join) are not drops. Only once
 * live does a skipped frame count: that is a picture the rider lost.
 */
class JoinTracker {
  private liveFromMs = Number.NEGATIVE_INFINITY;
  private shownSinceJoin = 0;
  /** A picture captured after the join was shown. */
  live = false;

  joined(serverTimeMs: number): void {
    this.liveFromMs = serverTimeMs;
    this.shownSinceJoin = 0;
    this.live = false;
  }

  shown(capturedAtMs: number): void {
    // The count is a safety net for a capture clock that runs behind the server's.
    if (capturedAtMs >= this.liveFromMs || ++this.shownSinceJoin > 90) this.live = true;
  }
}

/** Before the picture is live (catching up after a join): decode queue length at which to restart at the next keyframe. */
const BEHIND_QUEUE = 3;
/**
 * Once live: restart at a keyframe when the oldest frame still waiting for
 * the decoder was captured this much earlier (ms), the hub's own soft limit
 * for slow readers. A stall shorter than that (the tab's thread busy for a
 * moment) decodes through in a few milliseconds per frame: a skip would only
 * cost frames. A decoder that is too slow for the stream falls further
 * behind and still restarts.
 */
const BEHIND_MS = 500;
/** Decode queue length at which we stop feeding deltas and wait for a keyframe (above a GOP: the join burst from the GOP cache must decode). */
const GIVE_UP_QUEUE = 45;

/** WebCodecs renderer; see the file comment. */
export class WebCodecsRenderer implements LiveRenderer {
  readonly path = 'webcodecs' as const;
  drops = 0;
  private readonly join = new JoinTracker();
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
    if (frame.isKey && this.behind(frame.capturedAtMs, decoder.decodeQueueSize)) {
      // Behind: drop what is queued and start over at this, the newest, keyframe. Right after a
      // join this is the normal case, not a loss (JoinTracker).
      if (this.join.live) this.drops += decoder.decodeQueueSize;
      this.reset();
    } else if (!frame.isKey && decoder.decodeQueueSize >= GIVE_UP_QUEUE) {
      this.needKey = true;
    }
    if (this.needKey && !frame.isKey) {
      if (this.join.live) this.drops++;
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

  /** True when the decoder is so far behind that restarting at a keyframe is better than decoding on. */
  private behind(keyCapturedAtMs: number, queued: number): boolean {
    if (!this.join.live) return queued >= BEHIND_QUEUE;
    if (queued === 0) return false;
    // captureTimes holds the frames not yet out of the decoder, oldest first.
    const oldest = this.captureTimes.values().next().value;
    return queued >= GIVE_UP_QUEUE || (oldest !== undefined && keyCapturedAtMs - oldest > BEHIND_MS);
  }

  joined(serverTimeMs: number): void {
    this.join.joined(serverTimeMs);
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
    if (captured !== undefined) {
      this.join.shown(captured);
      this.onPicture(captured, w, h, decodedAtMs);
    }
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
/**
 * Until the video first plays, the playhead is left alone up to this far behind: the buffer
 * starts with a keyframe, so starting at its beginning needs no seek, and a seek before the
 * first picture is what a slow pipeline stumbles on.
 */
const MSE_MAX_BEHIND_FIRST_S = 1.5;
/**
 * After a jump, no other jump until the video played on from there or this long passed: a slow decoder
 * (WebKitGTK under load) needs longer than MSE_MAX_BEHIND_S to start again after a seek, and
 * jumping on every append then kept it from ever showing a picture.
 */
const MSE_JUMP_HOLD_MS = 2000;
/**
 * The playhead has not moved for this long while frames keep arriving: the media pipeline is
 * stuck (seen in WebKitGTK under heavy load: a seek that never ends, an emptied buffer); the
 * source is built anew. The playhead, not requestVideoFrameCallback: WebKitGTK under load
 * plays on with few callbacks.
 */
const MSE_STALL_MS = 5000;
/** Media-pipeline failures in a row (no picture between) after which the renderer stops trying. */
const MSE_MAX_FAILURES = 5;
/** Past this (but under MSE_MAX_BEHIND_S) the video plays slightly fast to catch up without a visible jump. */
const MSE_CATCH_UP_S = 0.08;

/** MSE (or ManagedMediaSource) + fragmented MP4 renderer; see the file comment. */
export class MseRenderer implements LiveRenderer {
  readonly path: 'mse' | 'mms';
  drops = 0;
  private readonly join = new JoinTracker();
  /** Times the playhead was moved forward to the live edge. */
  jumps = 0;
  /** Times the media source was built anew after a stall. */
  restarts = 0;
  private readonly managed: boolean;
  private mediaSource!: MediaSource;
  private sourceBuffer: SourceBuffer | undefined;
  private config: LiveConfig | undefined;
  private needInit = true;
  /** Frames were skipped (tab hidden): the next appended frame must be a keyframe. */
  private needKey = false;
  private readonly queue: Uint8Array[] = [];
  private sequence = 1;
  /** Decode time of the next sample: where the last one ended. */
  private decodeTime90k = 0;
  private lastPts90k: number | undefined;
  /** Smoothed frame interval (90 kHz ticks) from the pts steps; 0 until the config gives the rate. */
  private frameInterval90k = 0;
  /** media time (s) of each appended frame -> capture time, oldest first. */
  private readonly times: Array<{ mediaTimeS: number; capturedAtMs: number }> = [];
  private lastTrimS = 0;
  /** Appending a live-edge join's catch-up frames; then the media time of the first live one, to jump to. */
  private catchingUp = false;
  private liveEdgeS: number | undefined;
  private closed = false;
  private objectUrl = '';
  private frameCallbackId = 0;
  /** performance.now() when the playhead last moved (or the start, a restart, a resync), and where it was. */
  private lastProgressAtMs = performance.now();
  private lastPlayheadS = 0;
  /** The browser refused to start playing (autoplay policy). */
  private playRefused = false;
  /** performance.now() of the last jump, and where it put the playhead (0: the start). */
  private lastJumpAtMs = Number.NEGATIVE_INFINITY;
  private jumpTargetS = 0;
  /** The video has played since the source was opened. */
  private started = false;
  /** Media-pipeline failures since the last picture shown: past MSE_MAX_FAILURES the renderer gives up. */
  private failuresWithoutPicture = 0;

  constructor(
    readonly element: HTMLVideoElement,
    private readonly onPicture: PictureCallback,
    private readonly onError: (message: string) => void,
    /** Use ManagedMediaSource (the only kind iOS 17.1+ has) instead of MediaSource. */
    managed = false,
  ) {
    this.path = managed ? 'mms' : 'mse';
    this.managed = managed;
    element.muted = true;
    element.playsInline = true;
    // A ManagedMediaSource plays only when AirPlay has an alternative or is turned off: a live
    // view has no URL another device could play, so it is turned off.
    if (managed) element.disableRemotePlayback = true;
    this.openSource();
    this.watchFrames();
    // The element's own failure (a decode error, or WebKitGTK's "Failed to push buffer" under
    // load) ends its media source for good, and neither the stall check (play() is refused from
    // then on) nor the source buffer says so: a new source at the next keyframe plays again.
    element.addEventListener('error', () => this.mediaFailed());
  }

  private mediaFailed(): void {
    const error = this.element.error;
    if (this.closed || !error) return;
    this.failuresWithoutPicture++;
    const what = `the browser's media pipeline failed (${error.message || `code ${error.code}`})`;
    if (this.failuresWithoutPicture > MSE_MAX_FAILURES) {
      this.onError(`${what} ${MSE_MAX_FAILURES + 1} times without a picture: no more attempts; reload the page`);
      this.close();
      return;
    }
    this.restart(what);
  }

  /** A new (Managed)MediaSource on the video element. */
  private openSource(): void {
    let source: MediaSource;
    if (this.managed) {
      const Managed = (globalThis as { ManagedMediaSource?: new () => MediaSource }).ManagedMediaSource;
      if (!Managed) throw new Error('this browser has no ManagedMediaSource');
      // Its startstreaming/endstreaming (the browser's wish for data) are not followed: a live
      // stream cannot pause, and the live-edge logic keeps only a few frames buffered.
      source = new Managed();
    } else {
      source = new MediaSource();
    }
    this.mediaSource = source;
    this.objectUrl = URL.createObjectURL(source);
    this.element.src = this.objectUrl;
    source.addEventListener('sourceopen', () => {
      if (source === this.mediaSource) this.flush();
    });
  }

  /** The pipeline is stuck: everything starts again at the next keyframe, on a new source. */
  private restart(why: string): void {
    this.restarts++;
    this.onError(`${why}: starting the ${this.path === 'mms' ? 'managed ' : ''}media source again`);
    URL.revokeObjectURL(this.objectUrl);
    this.sourceBuffer = undefined;
    this.queue.length = 0;
    this.times.length = 0;
    this.needInit = true;
    this.sequence = 1;
    this.decodeTime90k = 0;
    this.lastPts90k = undefined;
    this.lastTrimS = 0;
    this.lastJumpAtMs = Number.NEGATIVE_INFINITY;
    this.jumpTargetS = 0;
    this.started = false;
    this.playRefused = false;
    this.catchingUp = false;
    this.liveEdgeS = undefined;
    this.lastProgressAtMs = performance.now();
    this.lastPlayheadS = 0;
    this.openSource();
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
    const nowMs = performance.now();
    if (this.element.currentTime !== this.lastPlayheadS) {
      this.lastPlayheadS = this.element.currentTime;
      this.lastProgressAtMs = nowMs;
    } else if (!this.playRefused && nowMs - this.lastProgressAtMs > MSE_STALL_MS) {
      this.restart(`the video stood still for ${MSE_STALL_MS / 1000} s while frames arrived`);
    }
    if (frame.discontinuity && !frame.isKey) this.needInit = true;
    if (this.needKey) {
      if (!frame.isKey) {
        this.drop();
        return;
      }
      this.needKey = false;
    }
    const nals = splitAnnexB(frame.payload).map((n) => n.data);
    if (this.needInit) {
      if (!frame.isKey) {
        this.drop();
        return;
      }
      const sps = nals.find((n) => ((n[0] ?? 0) & 0x1f) === 7);
      const pps = nals.find((n) => ((n[0] ?? 0) & 0x1f) === 8);
      if (!sps || !pps) {
        this.drop();
        return;
      }
      this.queue.push(initSegment({ width: this.config.width, height: this.config.height, sps, pps }));
      this.needInit = false;
    }
    const nominal = Math.round(FMP4_TIMESCALE / (this.config.fps || 30));
    // Each sample lasts the smoothed frame interval and the next starts where it ends: no gap or
    // overlap in the buffer, and a decode clock that never goes backwards (source restarts). The
    // raw pts steps jitter with the capture times of a loaded camera (1 tick to 2 frames): as
    // sample times they leave gaps and overlaps, and WebKit takes a step over twice the one
    // before as a discontinuity and drops every frame up to the next keyframe.
    if (this.frameInterval90k === 0) this.frameInterval90k = nominal;
    if (this.lastPts90k !== undefined) {
      const step = frame.pts90k - this.lastPts90k;
      if (step > 0 && step < nominal * 10) this.frameInterval90k += (step - this.frameInterval90k) / 16;
    }
    this.lastPts90k = frame.pts90k;
    const duration90k = Math.round(Math.min(nominal * 2, Math.max(nominal / 2, this.frameInterval90k)));
    const samples = nals.filter((n) => {
      const t = (n[0] ?? 0) & 0x1f;
      return t !== 7 && t !== 8 && t !== 9;
    });
    this.queue.push(
      mediaSegment({
        sequence: this.sequence++,
        decodeTime90k: this.decodeTime90k,
        duration90k,
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
    this.decodeTime90k += duration90k;
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
    // Played on from the last jump (or the start): the pipeline works, another jump is safe.
    const playedOn = video.currentTime > this.jumpTargetS + 0.01;
    if (playedOn) this.started = true;
    const mayJump = !video.seeking && (playedOn || performance.now() - this.lastJumpAtMs > MSE_JUMP_HOLD_MS);
    const maxBehind = this.started ? MSE_MAX_BEHIND_S : MSE_MAX_BEHIND_FIRST_S;
    if (edge !== undefined && end >= edge) {
      // A live-edge join: the catch-up frames are in the buffer for decoding; play from the first live one.
      this.liveEdgeS = undefined;
      const target = Math.max(start, edge);
      video.currentTime = target;
      this.jumps++;
      this.lastJumpAtMs = performance.now();
      this.jumpTargetS = target;
    } else if ((behind > maxBehind || video.currentTime < start) && mayJump) {
      const target = Math.max(start, end - 0.02);
      video.currentTime = target;
      this.jumps++;
      this.lastJumpAtMs = performance.now();
      this.jumpTargetS = target;
    }
    const rate = behind > MSE_CATCH_UP_S ? 1.15 : 1;
    if (video.playbackRate !== rate) video.playbackRate = rate;
    if (video.paused) {
      video.play().then(
        () => (this.playRefused = false),
        () => {
          // autoplay refused: tried again on the next append, and no picture is no stall
          this.playRefused = true;
        },
      );
    }
    if (!sb.updating && video.currentTime - this.lastTrimS > 20) {
      const trimTo = video.currentTime - 10;
      if (trimTo > 0) {
        this.lastTrimS = video.currentTime;
        sb.remove(0, trimTo);
      }
    }
  }

  /** A frame not appended: a drop once the picture is live. */
  private drop(): void {
    if (this.join.live) this.drops++;
  }

  joined(serverTimeMs: number): void {
    this.join.joined(serverTimeMs);
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
      if (captured !== undefined) {
        this.failuresWithoutPicture = 0;
        this.join.shown(captured);
        this.onPicture(captured, meta.width, meta.height);
      }
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
    // Back from hidden: the time without frames was not a stall.
    this.lastProgressAtMs = performance.now();
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
