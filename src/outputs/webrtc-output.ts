/**
 * WebRTC viewers of the live stream, signalled by WHEP (docs/api.md,
 * "WebRTC (WHEP)"): the viewer POSTs an SDP offer, the camera answers with
 * every ICE candidate in the answer (no trickle), and media flows as soon
 * as ICE and DTLS are up.
 *
 * H.264 goes out as the hub has it: no transcoding. Each viewer is a hub
 * reader (joins at the live edge: the cached keyframe alone, a picture at
 * once, then live frames from the next keyframe, since a browser's jitter
 * buffer would play a GOP burst out at its capture pace and stay behind; skips to the next keyframe when
 * behind, is dropped when stalled) whose frames libdatachannel's
 * H264RtpPacketizer cuts into RTP (RFC 6184 packetization-mode 1: FU-A and
 * STAP-A); RTP timestamps are the capture time at 90 kHz, RTCP sender
 * reports map them to wall time, and NACKs are answered from a bounded
 * retransmission buffer (RtcpNackResponder). A picture loss indication
 * needs no encoder restart: SPS, PPS and a keyframe come with the next GOP
 * (at most one keyframe interval, 1 s on the camera).
 *
 * The WebRTC stack, node-datachannel (libdatachannel's bindings, prebuilt
 * for linux-x64 and linux-arm64), is loaded on the first viewer only: a
 * camera nobody watches over WebRTC pays nothing for it.
 *
 * A data channel named "clock" (when the viewer opens one) answers the web
 * page's clock pings ({"type":"ping","id","clientTimeMs"} ->
 * {"type":"pong","id","serverTimeMs"}), so the page can show the latency
 * from the capture time with the two clocks' offset corrected, as on the
 * WebSocket path.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { HubReaderStats } from '../hub/hub-reader.js';
import type { StreamParams } from '../hub/stream-frame.js';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import type { WsHub, WsHubReader } from './ws-stream-server.js';
import { chooseH264, parseWhepOffer, profileOfCodec, WhepOfferError } from './whep-offer.js';

type Ndc = typeof import('node-datachannel');
type PeerConnection = InstanceType<Ndc['PeerConnection']>;
type Track = ReturnType<PeerConnection['addTrack']>;

/** The part of the hub this output needs (a StreamHub). */
export interface WebRtcHub extends WsHub {
  /** The current SPS/PPS and codec string; undefined before the first keyframe. */
  readonly params: StreamParams | undefined;
}

/** Options of {@link WebRtcOutput}. */
export interface WebRtcOutputOptions {
  hub: WebRtcHub;
  /** Most simultaneous viewers (their own pool, apart from TCP and WebSocket clients). */
  maxViewers: number;
  /** Most viewers from one address. */
  maxViewersPerAddress?: number;
  /** Local address ICE binds to; undefined: every interface. */
  bindAddress?: string;
  /** UDP ports ICE may use, inclusive; undefined: any. */
  portRange?: readonly [number, number];
  /** STUN/TURN servers for viewers beyond the camera's own network ("stun:host:port"); none by default. */
  iceServers?: readonly string[];
  /** A session whose ICE and DTLS are not up after this long is ended, ms. Default 15000. */
  connectTimeoutMs?: number;
  /** Most new sessions in any {@link CREATION_WINDOW_MS}. Default 8. */
  maxCreationsPerWindow?: number;
  logger?: Logger;
  /** Wall clock, ms (session ages, the clock channel's answers). */
  now?: () => number;
  /** Loads the WebRTC stack (tests may count the loads). */
  loadStack?: () => Promise<Ndc>;
}

/** One viewer in /api/v1/status. */
export interface WebRtcViewerStatus {
  kind: 'webrtc';
  id: string;
  address: string;
  /** new, connecting, connected (media flowing), closed. */
  state: string;
  framesSent: number;
  bytesSent: number;
  framesDropped: number;
  lagMs: number;
  connectedForMs: number;
  /** Round-trip time measured by ICE, ms, when known. */
  rttMs: number | null;
}

/** Why a session was refused (the HTTP route maps it to a status). */
export class WebRtcRefusal extends Error {
  constructor(
    readonly reason: 'offer' | 'full' | 'rate' | 'unavailable',
    message: string,
  ) {
    super(message);
  }
}

/** Window of the creation rate limit, ms. */
export const CREATION_WINDOW_MS = 10_000;

interface Session {
  id: string;
  address: string;
  pc: PeerConnection;
  track: Track;
  reader: WsHubReader | undefined;
  state: string;
  createdAtMs: number;
  connectedAtMs: number | undefined;
  framesSent: number;
  bytesSent: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  closed: boolean;
}

/** The WebRTC output: sessions by id, each a peer connection fed by a hub reader. */
export class WebRtcOutput {
  /** False while the camera may not stream (exclusive mode's recording phase): new sessions are refused. */
  accepting = true;
  /** Said to refused viewers while not accepting. */
  refusalReason = 'the camera is not streaming now';
  /** Told when a viewer's media starts and when a viewer that had media ends (the modes' client count). */
  onViewerChange: ((event: 'connected' | 'disconnected') => void) | undefined;
  private readonly options: WebRtcOutputOptions;
  private readonly sessions = new Map<string, Session>();
  private readonly creations: number[] = [];
  private readonly logger: Logger;
  private readonly now: () => number;
  private stack: Promise<Ndc> | undefined;
  private closed = false;

  constructor(options: WebRtcOutputOptions) {
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
  }

  /** True once the WebRTC stack was loaded (a viewer came). */
  get stackLoaded(): boolean {
    return this.stack !== undefined;
  }

  /**
   * Answers `offerSdp` from `address`: returns the session id (for the
   * resource URL) and the answer SDP with all ICE candidates. Throws
   * {@link WebRtcRefusal}.
   */
  async createSession(offerSdp: string, address: string): Promise<{ id: string; answer: string }> {
    if (this.closed || !this.accepting) throw new WebRtcRefusal('unavailable', this.refusalReason);
    const params = this.options.hub.params;
    if (!params) throw new WebRtcRefusal('unavailable', 'the camera has no picture yet; try again in a moment');
    let offer: ReturnType<typeof parseWhepOffer>;
    let format: ReturnType<typeof chooseH264>;
    try {
      offer = parseWhepOffer(offerSdp);
      format = chooseH264(offer, profileOfCodec(params.codec));
    } catch (err) {
      if (err instanceof WhepOfferError) throw new WebRtcRefusal('offer', err.message);
      throw err;
    }
    if (this.sessions.size >= this.options.maxViewers)
      throw new WebRtcRefusal('full', `all ${this.options.maxViewers} WebRTC viewer slots are taken`);
    const perAddress = this.options.maxViewersPerAddress ?? this.options.maxViewers;
    if ([...this.sessions.values()].filter((s) => s.address === address).length >= perAddress)
      throw new WebRtcRefusal('full', `at most ${perAddress} WebRTC viewers from one address`);
    const nowMs = this.now();
    while (this.creations.length > 0 && (this.creations[0] as number) <= nowMs - CREATION_WINDOW_MS)
      this.creations.shift();
    if (this.creations.length >= (this.options.maxCreationsPerWindow ?? 8))
      throw new WebRtcRefusal('rate', 'too many new WebRTC sessions; try again in a few seconds');
    this.creations.push(nowMs);

    let ndc: Ndc;
    try {
      this.stack ??= (this.options.loadStack ?? (() => import('node-datachannel')))();
      ndc = await this.stack;
    } catch (err) {
      this.stack = undefined;
      throw new WebRtcRefusal('unavailable', `WebRTC is not available on this camera: ${(err as Error).message}`);
    }
    if (this.closed) throw new WebRtcRefusal('unavailable', this.refusalReason);

    const id = randomBytes(12).toString('hex');
    const [portRangeBegin, portRangeEnd] = this.options.portRange ?? [undefined, undefined];
    const pc = new ndc.PeerConnection(`viewer-${id}`, {
      iceServers: [...(this.options.iceServers ?? [])],
      disableAutoNegotiation: true,
      ...(this.options.bindAddress ? { bindAddress: this.options.bindAddress } : {}),
      ...(portRangeBegin !== undefined ? { portRangeBegin, portRangeEnd } : {}),
    });
    const video = new ndc.Video(offer.videoMid, 'SendOnly');
    video.addH264Codec(format.payloadType, format.fmtp);
    const ssrc = randomInt(1, 0xffff_fffe);
    video.addSSRC(ssrc, 'rearview', 'rearview', 'video');
    const track = pc.addTrack(video);
    const rtp = new ndc.RtpPacketizationConfig(ssrc, 'rearview', format.payloadType, 90_000);
    const packetizer = new ndc.H264RtpPacketizer('StartSequence', rtp);
    packetizer.addToChain(new ndc.RtcpSrReporter(rtp));
    packetizer.addToChain(new ndc.RtcpNackResponder(512));
    track.setMediaHandler(packetizer);

    const session: Session = {
      id,
      address,
      pc,
      track,
      reader: undefined,
      state: 'new',
      createdAtMs: nowMs,
      connectedAtMs: undefined,
      framesSent: 0,
      bytesSent: 0,
      timer: undefined,
      closed: false,
    };
    this.sessions.set(id, session);
    session.timer = setTimeout(() => {
      if (session.connectedAtMs === undefined) this.end(session, 'ICE/DTLS did not connect in time');
    }, this.options.connectTimeoutMs ?? 15_000);
    session.timer.unref?.();

    track.onOpen(() => {
      if (session.closed) return;
      session.connectedAtMs = this.now();
      session.state = 'connected';
      this.logger.info(`webrtc viewer ${address} connected (${id.slice(0, 8)})`);
      this.onViewerChange?.('connected');
      const reader = this.options.hub.addReader({ name: `webrtc ${address}`, join: 'live-edge', liveEdge: 'keyframe' });
      session.reader = reader;
      const pump = (): void => {
        for (let frame = reader.read(); frame && !session.closed; frame = reader.read()) {
          // RTP time is the capture time at 90 kHz (wrapping at 2^32), so the viewer can tell how old a frame is.
          // (The join keyframe sent alone carries the live edge's time: see presentationCaptureTime.)
          rtp.timestamp =
            Math.round((reader.presentationCaptureTime?.(frame) ?? frame.capturedAtMs) * 90) % 0x1_0000_0000;
          const bytes = frame.annexB;
          try {
            track.sendMessageBinary(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
          } catch (err) {
            this.end(session, `send failed: ${(err as Error).message}`);
            return;
          }
          session.framesSent++;
          session.bytesSent += bytes.byteLength;
        }
      };
      reader.onReadable(pump);
      reader.onStalled(() => this.end(session, 'too slow (stalled)'));
      pump();
    });
    track.onClosed(() => this.end(session, 'track closed'));
    pc.onStateChange((state) => {
      if (session.state !== 'connected' || state === 'closed') session.state = state;
      if (state === 'failed' || state === 'closed' || state === 'disconnected') this.end(session, `peer ${state}`);
    });
    pc.onDataChannel((channel) => {
      if (channel.getLabel() !== 'clock') return;
      channel.onMessage((message) => {
        if (typeof message !== 'string' || message.length > 200) return;
        try {
          const ping = JSON.parse(message) as { type?: unknown; id?: unknown };
          if (ping.type !== 'ping' || typeof ping.id !== 'number') return;
          channel.sendMessage(JSON.stringify({ type: 'pong', id: ping.id, serverTimeMs: this.now() }));
        } catch {
          // not JSON: ignored, as on the WebSocket
        }
      });
    });

    try {
      const gathered = new Promise<void>((resolve) => {
        pc.onGatheringStateChange((state) => {
          if (state === 'complete') resolve();
        });
      });
      pc.setRemoteDescription(offerSdp, 'offer');
      pc.setLocalDescription('answer');
      if (pc.gatheringState() !== 'complete') await gathered;
      const answer = pc.localDescription()?.sdp;
      if (!answer || session.closed) throw new Error('no answer was made');
      session.state = 'connecting';
      return { id, answer };
    } catch (err) {
      this.end(session, 'offer refused');
      throw new WebRtcRefusal('offer', `the offer could not be answered: ${(err as Error).message}`);
    }
  }

  /** Ends session `id` (WHEP DELETE); false when there is no such session. */
  deleteSession(id: string): boolean {
    const session = this.sessions.get(id);
    if (!session) return false;
    this.end(session, 'ended by the viewer');
    return true;
  }

  /** Ends every session (exclusive mode's recording phase). */
  disconnectAll(reason: string): void {
    for (const session of [...this.sessions.values()]) this.end(session, reason);
  }

  /** The viewers, for /api/v1/status and /metrics. */
  viewers(): WebRtcViewerStatus[] {
    const nowMs = this.now();
    return [...this.sessions.values()].map((s) => {
      const stats = s.reader?.stats as Partial<HubReaderStats> | undefined;
      let rttMs: number | null = null;
      try {
        const rtt = s.pc.rtt();
        rttMs = rtt >= 0 ? rtt : null;
      } catch {
        rttMs = null; // the connection is going away
      }
      return {
        kind: 'webrtc',
        id: s.id,
        address: s.address,
        state: s.state,
        framesSent: s.framesSent,
        bytesSent: s.bytesSent,
        framesDropped: stats?.framesDropped ?? 0,
        lagMs: stats?.lagMs ?? 0,
        connectedForMs: s.connectedAtMs === undefined ? 0 : nowMs - s.connectedAtMs,
        rttMs,
      };
    });
  }

  /** Number of sessions (connecting or connected). */
  get viewerCount(): number {
    return this.sessions.size;
  }

  /** Ends every session; later offers are refused. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.disconnectAll('closing');
  }

  private end(session: Session, why: string): void {
    if (session.closed) return;
    session.closed = true;
    session.state = 'closed';
    this.sessions.delete(session.id);
    if (session.timer) clearTimeout(session.timer);
    session.reader?.close();
    this.logger.info(`webrtc viewer ${session.address} ended: ${why}`);
    if (session.connectedAtMs !== undefined) this.onViewerChange?.('disconnected');
    // libdatachannel calls back from its own threads; closing inside one of its callbacks is allowed.
    try {
      session.track.close();
    } catch {
      // already closed
    }
    try {
      session.pc.close();
    } catch {
      // already closed
    }
  }
}
