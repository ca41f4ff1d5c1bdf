/**
 * The live view over WebRTC (WHEP, docs/api.md): the path for browsers
 * without WebCodecs, above all an iPhone on the camera's plain-http page
 * (not a secure context: no WebCodecs; no MediaSource either). The browser
 * decodes and shows the picture itself in a <video>; the camera sends its
 * H.264 untouched.
 *
 * Latency: the camera stamps each frame's RTP time with its capture time
 * (90 kHz); requestVideoFrameCallback gives the RTP time of the picture on
 * screen, and a data channel "clock" measures the two clocks' offset like
 * the WebSocket path's pings. Browsers without rtpTimestamp in the
 * callback show no latency figure rather than a wrong one.
 *
 * Exposes the same probe as the WebSocket player on `window.__rearview`.
 */
import { ClockSync } from './clock-sync.js';
import type { LiveProbe, LiveState, LiveStats } from './live-player.js';

/** Options of {@link WebRtcPlayer}. */
export interface WebRtcPlayerOptions {
  /** The WHEP endpoint ("/api/v1/whep"). */
  url: string;
  video: HTMLVideoElement;
  onStats: (stats: LiveStats) => void;
  /**
   * The server has no WebRTC for this viewer (no WHEP endpoint, WebRTC turned off, all WebRTC
   * slots taken): the player stops and the page may take another path. Without it, it retries.
   */
  onUnavailable?: (why: string) => void;
}

/** A WHEP answer that means "no WebRTC here" rather than "try again later". */
function noWebRtcHere(status: number, code: string | undefined, message: string): boolean {
  if (status === 404 || status === 405 || status === 501) return true;
  if (code === 'ERR_API_TOO_MANY_CLIENTS' && status === 503) return true;
  // The camera cannot answer this browser's offer (no H.264 it can send): retrying changes nothing.
  if (code === 'ERR_WEBRTC_OFFER' && status === 400) return true;
  return code === 'ERR_WEBRTC_UNAVAILABLE' && /turned off|not available/.test(message);
}

const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 10_000;
/** 2^32 ticks of the 90 kHz RTP clock, in ms. */
const RTP_WRAP_MS = 0x1_0000_0000 / 90;

interface FrameMetadata {
  rtpTimestamp?: number;
  presentedFrames?: number;
}
type VideoWithCallback = HTMLVideoElement & {
  requestVideoFrameCallback?: (cb: (now: number, metadata: FrameMetadata) => void) => number;
};

/** True when this browser has WebRTC. */
export function hasWebRtc(): boolean {
  return typeof (globalThis as { RTCPeerConnection?: unknown }).RTCPeerConnection === 'function';
}

/** The WebRTC live view; see the file comment. */
export class WebRtcPlayer {
  readonly path = 'webrtc' as const;
  private pc: RTCPeerConnection | undefined;
  private sessionUrl: string | undefined;
  private readonly clock = new ClockSync();
  private clockChannel: RTCDataChannel | undefined;
  private state: LiveState = 'connecting';
  private closed = false;
  private backoffMs = BACKOFF_MIN_MS;
  private retryAtMs: number | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private tick: ReturnType<typeof setInterval> | undefined;
  private windowPictures = 0;
  private windowLatencies: number[] = [];
  private lastBytes = 0;
  private lastBytesAtMs = 0;
  private bitrateBps = 0;
  /** Drops of the connections before this one (each new RTCPeerConnection counts from 0). */
  private dropsBefore = 0;
  /** framesDropped of the current connection. */
  private dropsNow = 0;
  private readonly probe: LiveProbe;

  constructor(private readonly options: WebRtcPlayerOptions) {
    this.probe = {
      path: 'webrtc',
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
    (window as unknown as { __rearview: LiveProbe }).__rearview = this.probe;
    options.video.hidden = false;
    options.video.muted = true;
    options.video.playsInline = true;
    options.video.autoplay = true;
  }

  start(): void {
    this.tick = setInterval(() => void this.everySecond(), 1000);
    this.watchFrames();
    void this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.tick) clearInterval(this.tick);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.hangUp();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    this.setState('connecting');
    const pc = new RTCPeerConnection();
    this.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    const channel = pc.createDataChannel('clock');
    this.clockChannel = channel;
    channel.onopen = () => this.pingClock();
    channel.onmessage = (e) => {
      try {
        const pong = JSON.parse(String(e.data)) as { type?: string; id?: number; serverTimeMs?: number };
        if (pong.type === 'pong' && typeof pong.id === 'number' && typeof pong.serverTimeMs === 'number')
          this.clock.pong(pong.id, pong.serverTimeMs);
      } catch {
        // not ours
      }
    };
    pc.ontrack = (e) => {
      this.options.video.srcObject = e.streams[0] ?? new MediaStream([e.track]);
      void this.options.video.play().catch(() => undefined); // muted autoplay is allowed; a refusal shows the poster
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === 'failed' || pc.connectionState === 'disconnected') this.retry('connection lost');
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      // The offer goes at once, before this browser's candidates (no trickle either): the page has
      // no ICE servers, so they would only be host candidates, which browsers hide behind mDNS
      // names the camera cannot resolve. The camera's answer carries its own candidates; the
      // browser's checks reach them and the camera learns its address from those (peer-reflexive).
      // Waiting for gathering to complete cost about 120 ms of the first picture in Chromium.
      const res = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp' },
        body: pc.localDescription?.sdp ?? '',
        credentials: 'same-origin',
      });
      if (res.status !== 201) {
        const text = await res.text();
        let message = `HTTP ${res.status}`;
        let code: string | undefined;
        try {
          const error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
          message = error?.message ?? message;
          code = error?.code;
        } catch {
          // not JSON
        }
        if (this.options.onUnavailable && noWebRtcHere(res.status, code, message)) {
          this.close();
          this.options.onUnavailable(message);
          return;
        }
        throw new Error(message);
      }
      const location = res.headers.get('location');
      this.sessionUrl = location
        ? new URL(location, new URL(this.options.url, window.location.href)).toString()
        : undefined;
      await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    } catch (err) {
      this.error(`WebRTC: ${(err as Error).message}`);
      this.retry((err as Error).message);
    }
  }

  private pingClock(): void {
    if (this.clockChannel?.readyState !== 'open') return;
    this.clockChannel.send(JSON.stringify(this.clock.ping()));
  }

  private watchFrames(): void {
    const video = this.options.video as VideoWithCallback;
    if (!video.requestVideoFrameCallback) {
      // No per-frame callback: count pictures from playback quality instead (no latency figure).
      return;
    }
    const onFrame = (_now: number, metadata: FrameMetadata): void => {
      if (this.closed) return;
      this.picture(metadata.rtpTimestamp);
      video.requestVideoFrameCallback?.(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  private picture(rtpTimestamp: number | undefined): void {
    this.probe.framesShown++;
    this.windowPictures++;
    if (this.probe.firstPictureMs === undefined) this.probe.firstPictureMs = performance.now();
    if (this.state !== 'live') this.setState('live');
    this.backoffMs = BACKOFF_MIN_MS;
    if (rtpTimestamp === undefined) return;
    // The RTP time is the capture time (ms since the epoch, x90) modulo 2^32: unwrap it next to now.
    const cameraNowMs = this.clock.cameraNowMs();
    const capturedMod = rtpTimestamp / 90;
    const wraps = Math.round((cameraNowMs - capturedMod) / RTP_WRAP_MS);
    const capturedAtMs = capturedMod + wraps * RTP_WRAP_MS;
    const latency = cameraNowMs - capturedAtMs;
    const raw = Date.now() - capturedAtMs;
    if (latency < -1000 || latency > 60_000) return; // not a capture time (a browser without the camera's RTP time)
    this.windowLatencies.push(latency);
    if (this.probe.latencies.length < 200_000) {
      this.probe.latencies.push(latency);
      this.probe.latenciesRaw.push(raw);
    }
  }

  private async everySecond(): Promise<void> {
    if (this.closed) return;
    this.pingClock();
    const pc = this.pc;
    if (pc) {
      try {
        const report = await pc.getStats();
        report.forEach(
          (s: {
            type?: string;
            kind?: string;
            bytesReceived?: number;
            framesDropped?: number;
            framesReceived?: number;
          }) => {
            if (s.type !== 'inbound-rtp' || s.kind !== 'video') return;
            const nowMs = performance.now();
            if (typeof s.bytesReceived === 'number') {
              if (this.lastBytesAtMs > 0 && s.bytesReceived >= this.lastBytes)
                this.bitrateBps = ((s.bytesReceived - this.lastBytes) * 8 * 1000) / (nowMs - this.lastBytesAtMs);
              this.lastBytes = s.bytesReceived;
              this.lastBytesAtMs = nowMs;
            }
            if (typeof s.framesReceived === 'number') this.probe.framesFed = s.framesReceived;
            if (typeof s.framesDropped === 'number') this.dropsNow = s.framesDropped;
          },
        );
      } catch {
        // the connection is going away
      }
    }
    const sorted = [...this.windowLatencies].sort((a, b) => a - b);
    const stats: LiveStats = {
      path: 'webrtc',
      state: this.state,
      fps: this.windowPictures,
      bitrateBps: this.bitrateBps,
      width: this.options.video.videoWidth,
      height: this.options.video.videoHeight,
      drops: this.dropsBefore + this.dropsNow,
      latencyMs: sorted.length > 0 ? sorted[Math.floor(sorted.length / 2)] : undefined,
      clockOffsetMs: this.clock.offsetMs,
      clockCorrectionMs: this.clock.correctionMs,
      clockRttMs: this.clock.rttMs,
      firstPictureMs: this.probe.firstPictureMs,
      retryInS:
        this.retryAtMs === undefined ? undefined : Math.max(0, Math.ceil((this.retryAtMs - performance.now()) / 1000)),
    };
    this.windowPictures = 0;
    this.windowLatencies = [];
    this.probe.stats = stats;
    this.options.onStats(stats);
  }

  private setState(state: LiveState): void {
    this.state = state;
    this.probe.state = state;
  }

  private error(message: string): void {
    this.probe.errors.push(message);
    if (this.probe.errors.length > 50) this.probe.errors.shift();
    console.warn(`rearview live: ${message}`);
  }

  private hangUp(): void {
    const url = this.sessionUrl;
    this.sessionUrl = undefined;
    if (url) void fetch(url, { method: 'DELETE', credentials: 'same-origin', keepalive: true }).catch(() => undefined);
    this.clockChannel = undefined;
    this.dropsBefore += this.dropsNow;
    this.dropsNow = 0;
    this.pc?.close();
    this.pc = undefined;
  }

  private retry(why: string): void {
    if (this.closed) return;
    this.hangUp();
    this.setState('offline');
    const wait = this.backoffMs;
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
    this.retryAtMs = performance.now() + wait;
    this.retryTimer = setTimeout(() => {
      this.retryAtMs = undefined;
      void this.connect();
    }, wait);
    console.info(`rearview live: ${why}; retrying in ${wait} ms`);
  }
}
