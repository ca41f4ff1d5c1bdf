/**
 * WebRTC viewers of the live stream, signalled by WHEP (docs/api.md,
 * "WebRTC (WHEP)"): the viewer POSTs an SDP offer, the camera answers with
 * every ICE candidate in the answer (no trickle), and media flows as soon
 * as ICE and DTLS are up.
 *
 * H.264 goes out as the hub has it: no transcoding. Each viewer is a hub
 * reader (joins at the live edge: the cached keyframe alone, a picture at
 * once, then live frames from the next keyframe, since a browser's jitter
 * buffer would play a GOP burst out at its capture pace and stay behind)
 * whose frames libdatachannel's
 * H264RtpPacketizer cuts into RTP (RFC 6184 packetization-mode 1: FU-A and
 * STAP-A); RTP timestamps are the capture time at 90 kHz, RTCP sender
 * reports map them to wall time, and NACKs are answered from a bounded
 * retransmission buffer (RtcpNackResponder). A picture loss indication or
 * full intra request restarts no encoder: the viewer gets the GOP cache
 * again (keyframe, then the frames since), as when it joined.
 *
 * Slow viewers: the hub reader is drained as frames come (a track has no
 * send queue: RTP leaves over UDP at once), so a viewer that cannot keep up
 * shows in its RTCP receiver reports instead; webrtc-catch-up.ts turns them
 * into a lag and, over clientSoftLimitMs, skips the viewer to keyframes only
 * until it catches up. The viewers have their own slot pool
 * (client-slots.ts, as port 5000 and the WebSocket): a cap per address, a
 * viewer behind for clientBehindLimitMs of the last 30 s is ended, and when
 * the pool is full the viewer behind longest gives way to a new one.
 *
 * Memory per viewer is bounded: the hub reader's soft limit (2 MB or 500 ms
 * of frames, only reached when the event loop itself falls behind; the
 * queue is drained at every frame), libdatachannel's NACK buffer of
 * {@link NACK_BUFFER_PACKETS} RTP packets (at most about 630 KB), the clock
 * channel's unsent answers ({@link CLOCK_CHANNEL_MAX_BUFFERED_BYTES}), and the
 * kernel's UDP send buffer of the viewer's socket.
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
import { toNdcIceServers, type IceServerConfig } from '../util/ice-servers.js';
import { ClientSlots, type ClientSlot, type SlotPoolStats } from './client-slots.js';
import { SLOT_SWEEP_INTERVAL_MS } from './tcp-stream-server.js';
import { parseReceiverReports, WebRtcCatchUp } from './webrtc-catch-up.js';

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
  /** Lag past which a viewer is behind and skips to keyframes, ms (clientSoftLimitMs). Default 500. */
  softLimitMs?: number;
  /** A viewer behind for this long out of any 30 s is ended, ms (clientBehindLimitMs). Default 10000. */
  behindLimitMs?: number;
  /** Monotonic clock of the slot and catch-up rules, ms. Default performance.now(). */
  clock?: () => number;
  /** Local address ICE binds to; undefined: every interface. */
  bindAddress?: string;
  /** UDP ports ICE may use, inclusive; undefined: any. */
  portRange?: readonly [number, number];
  /** STUN/TURN servers for viewers beyond the camera's own network (config `webrtcIceServers`); none by default. */
  iceServers?: readonly IceServerConfig[];
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

/** The ICE candidate pair a viewer's media takes: candidate types (host, srflx, prflx, relay) and transport. */
export interface WebRtcRoute {
  local: string;
  remote: string;
  transport: string;
}

/** Counters of the output since start, for /api/v1/status and /metrics. */
export interface WebRtcOutputStats {
  maxViewers: number;
  /** Sessions answered. */
  sessions: number;
  /** Offers refused, by reason: offer (unusable), full, rate, unavailable. */
  refused: Record<WebRtcRefusal['reason'], number>;
  /** Picture loss indications and full intra requests received (ended viewers included). */
  keyframeRequests: number;
  /** Those answered by resending the cached GOP from its keyframe. */
  keyframesResent: number;
  /** Times a viewer went behind and was skipped to keyframes (ended viewers included). */
  skips: number;
  /** STUN/TURN servers configured. */
  iceServers: number;
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
  /** Frames not sent: the join's (the old GOP after its keyframe) and the slow-viewer rule's. */
  framesDropped: number;
  /** Times it went behind and was skipped to keyframes. */
  skips: number;
  /** True while it is behind (keyframes only). */
  behind: boolean;
  /** Time spent behind in the last 30 s, ms (the slot rules' measure). */
  behindMs: number;
  /** Estimated lag (receiver reports' round trip or silence; the hub queue's age if larger), ms. */
  lagMs: number;
  /** Its place in the pool, 0 to maxViewers-1 (the /metrics label). */
  slot: number;
  connectedForMs: number;
  /** Round-trip time measured by ICE, ms, when known. */
  rttMs: number | null;
  /** The candidate pair in use, once connected. */
  route: WebRtcRoute | null;
  /** Picture loss indications and full intra requests from this viewer. */
  keyframeRequests: number;
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

/**
 * A keyframe request within this long of the viewer's last keyframe start
 * (its join, or an earlier resend) is not answered again: the browser asks
 * before that keyframe reached it, and another GOP burst would only add load.
 */
export const KEYFRAME_RESEND_MIN_INTERVAL_MS = 1000;

/** Clock answers waiting in a viewer's data channel past which pings go unanswered, bytes (a pong is under 100). */
export const CLOCK_CHANNEL_MAX_BUFFERED_BYTES = 16 * 1024;

/** RTP packets libdatachannel keeps per viewer to answer NACKs (about 1.2 KB each). */
export const NACK_BUFFER_PACKETS = 512;

/** RTCP payload-specific feedback (RFC 4585): FMT 1 picture loss indication; FMT 4 full intra request (RFC 5104). */
const RTCP_PSFB = 206;

/** True when the RTCP compound packet `data` holds a PLI or a FIR. */
export function hasKeyframeRequest(data: Uint8Array): boolean {
  let at = 0;
  while (at + 4 <= data.length) {
    const first = data[at] as number;
    if (first >> 6 !== 2) return false; // not RTCP version 2
    const type = data[at + 1] as number;
    const fmt = first & 0x1f;
    if (type === RTCP_PSFB && (fmt === 1 || fmt === 4)) return true;
    at += 4 * ((((data[at + 2] as number) << 8) | (data[at + 3] as number)) + 1);
  }
  return false;
}

/** What a slot holds: the session, once its peer connection exists (the stack may still be loading). */
interface SlotHolder {
  session: Session | undefined;
}

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
  keyframeRequests: number;
  /** When the viewer last started on a keyframe (its join, a resend), ms. */
  keyframeStartAtMs: number | undefined;
  /** Capture time and RTP time of the last frame sent. */
  lastCaptureMs: number;
  lastRtpTimestamp: number;
  ssrc: number;
  catchUp: WebRtcCatchUp;
  slot: ClientSlot<SlotHolder>;
  slotIndex: number;
  /** Frames dropped by hub readers replaced since (a keyframe request swaps the reader). */
  earlierReaderDrops: number;
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
  private readonly clock: () => number;
  private readonly slots: ClientSlots<SlotHolder>;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private stack: Promise<Ndc> | undefined;
  private closed = false;
  private readonly counters: Omit<WebRtcOutputStats, 'maxViewers' | 'iceServers'> = {
    sessions: 0,
    refused: { offer: 0, full: 0, rate: 0, unavailable: 0 },
    keyframeRequests: 0,
    keyframesResent: 0,
    skips: 0,
  };

  constructor(options: WebRtcOutputOptions) {
    this.options = options;
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.clock = options.clock ?? (() => performance.now());
    this.slots = new ClientSlots<SlotHolder>({
      maxClients: options.maxViewers,
      maxPerAddress: options.maxViewersPerAddress ?? options.maxViewers,
      behindLimitMs: options.behindLimitMs ?? 10_000,
      clock: this.clock,
    });
  }

  /** The slot pool's figures (caps, refusals by reason, evictions, viewers ended for being behind). */
  slotStats(): SlotPoolStats {
    return this.slots.stats();
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
    try {
      const session = await this.answer(offerSdp, address);
      this.counters.sessions++;
      return session;
    } catch (err) {
      if (err instanceof WebRtcRefusal) this.counters.refused[err.reason]++;
      throw err;
    }
  }

  private async answer(offerSdp: string, address: string): Promise<{ id: string; answer: string }> {
    if (this.closed || !this.accepting) {
      this.slots.noteRefused(this.closed ? 'closing' : 'not-streaming');
      throw new WebRtcRefusal('unavailable', this.refusalReason);
    }
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
    const nowMs = this.now();
    while (this.creations.length > 0 && (this.creations[0] as number) <= nowMs - CREATION_WINDOW_MS)
      this.creations.shift();
    if (this.creations.length >= (this.options.maxCreationsPerWindow ?? 8))
      throw new WebRtcRefusal('rate', 'too many new WebRTC sessions; try again in a few seconds');
    // The slot last: a viewer evicted to make room is not ended for an offer refused anyway.
    const admission = this.slots.admit(address);
    if (!admission.ok)
      throw new WebRtcRefusal(
        'full',
        admission.reason === 'full'
          ? `all ${this.options.maxViewers} WebRTC viewer slots are taken by viewers that keep up`
          : `at most ${this.options.maxViewersPerAddress ?? this.options.maxViewers} WebRTC viewers from one address`,
      );
    const victim = admission.evict;
    if (victim?.client.session) {
      this.end(
        victim.client.session,
        `gave way to a new viewer: behind for ${Math.round(victim.behindMs())} ms of the last ${this.slots.stats().windowMs / 1000} s with all slots taken`,
      );
    }
    this.creations.push(nowMs);
    // Held from here: the stack may load meanwhile, and a second offer must see the slot taken.
    const holder: SlotHolder = { session: undefined };
    const slot = this.slots.add(address, holder);
    try {
      return await this.open(offerSdp, offer, format, address, nowMs, slot);
    } catch (err) {
      if (!holder.session) slot.release();
      throw err;
    }
  }

  private async open(
    offerSdp: string,
    offer: ReturnType<typeof parseWhepOffer>,
    format: ReturnType<typeof chooseH264>,
    address: string,
    nowMs: number,
    slot: ClientSlot<SlotHolder>,
  ): Promise<{ id: string; answer: string }> {
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
      iceServers: toNdcIceServers(this.options.iceServers ?? []),
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
    packetizer.addToChain(new ndc.RtcpNackResponder(NACK_BUFFER_PACKETS));
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
      keyframeRequests: 0,
      keyframeStartAtMs: undefined,
      lastCaptureMs: Number.NEGATIVE_INFINITY,
      lastRtpTimestamp: 0,
      ssrc,
      catchUp: new WebRtcCatchUp({ softLimitMs: this.options.softLimitMs ?? 500, clock: this.clock }),
      slot,
      slotIndex: this.freeSlotIndex(),
      earlierReaderDrops: 0,
    };
    slot.client.session = session;
    session.catchUp.onBehindChange = (behind, lagMs) => this.behindChanged(session, behind, lagMs);
    this.sessions.set(id, session);
    this.sweepTimer ??= setInterval(() => this.sweep(), SLOT_SWEEP_INTERVAL_MS);
    this.sweepTimer.unref?.();
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
      this.startReader(session, rtp);
    });
    // RTCP from the viewer: NACKs are answered by the RtcpNackResponder in the chain; a picture
    // loss indication or full intra request gets the cached GOP again (keyframeRequested); receiver
    // reports feed the slow-viewer rule (webrtc-catch-up.ts).
    track.onMessage((message) => {
      if (session.closed) return;
      for (const report of parseReceiverReports(message, session.ssrc)) session.catchUp.report(report);
      if (hasKeyframeRequest(message)) this.keyframeRequested(session, rtp);
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
          // A viewer that pings but does not take the answers would queue them without end: bounded.
          if (channel.bufferedAmount() > CLOCK_CHANNEL_MAX_BUFFERED_BYTES) return;
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

  /**
   * Feeds the session from a new hub reader that starts on the cached
   * keyframe (the GOP cache: SPS, PPS, IDR and the frames since, then live).
   */
  private startReader(
    session: Session,
    rtp: InstanceType<Ndc['RtpPacketizationConfig']>,
    why: 'join' | 'keyframe-request' = 'join',
  ): void {
    this.closeReader(session);
    session.keyframeStartAtMs = this.now();
    // Joining: at the live edge (the cached keyframe alone, then live from the next keyframe): a
    // browser plays WebRTC by RTP time and cannot decode a burst unseen. A keyframe request: the
    // whole cached GOP again, so the deltas after the keyframe decode (sent a tick apart, below).
    const reader = this.options.hub.addReader(
      why === 'join'
        ? { name: `webrtc ${session.address}`, join: 'live-edge', liveEdge: 'keyframe' }
        : { name: `webrtc ${session.address}`, join: 'latest-keyframe' },
    );
    session.reader = reader;
    const pump = (): void => {
      for (let frame = reader.read(); frame && !session.closed && session.reader === reader; frame = reader.read()) {
        // A viewer behind gets keyframes only until it catches up, then the stream from the next one.
        if (session.catchUp.decide(frame.isKey) === 'drop') continue;
        // RTP time is the capture time at 90 kHz (wrapping at 2^32), so the viewer can tell how old a
        // frame is; the join keyframe sent alone carries the live edge's time (presentationCaptureTime),
        // or the jitter buffer would hold every live frame back by the keyframe's age. Frames sent
        // again from the GOP cache (a keyframe request) follow the last one sent a tick apart: RTP
        // time never goes back, and the browser decodes them at once to catch up.
        const capturedAtMs = reader.presentationCaptureTime?.(frame) ?? frame.capturedAtMs;
        if (capturedAtMs > session.lastCaptureMs) {
          rtp.timestamp = Math.round(capturedAtMs * 90) % 0x1_0000_0000;
          session.lastCaptureMs = capturedAtMs;
        } else {
          rtp.timestamp = (session.lastRtpTimestamp + 1) % 0x1_0000_0000;
        }
        session.lastRtpTimestamp = rtp.timestamp;
        const bytes = frame.annexB;
        try {
          session.track.sendMessageBinary(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
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
  }

  /**
   * A PLI or FIR: the viewer lost its reference pictures. The encoder is
   * never restarted for one viewer; it gets the GOP cache again (keyframe
   * first, then every frame since, so the deltas after it decode), unless
   * it started on a keyframe within KEYFRAME_RESEND_MIN_INTERVAL_MS.
   */
  private keyframeRequested(session: Session, rtp: InstanceType<Ndc['RtpPacketizationConfig']>): void {
    // Out of the RTCP callback: the reader is swapped on a clean stack.
    setImmediate(() => {
      if (session.closed || !session.reader) return;
      session.keyframeRequests++;
      this.counters.keyframeRequests++;
      const since = this.now() - (session.keyframeStartAtMs ?? Number.NEGATIVE_INFINITY);
      // Behind, it gets keyframes anyway: a GOP burst would only add to what it cannot take.
      if (since < KEYFRAME_RESEND_MIN_INTERVAL_MS || session.catchUp.behind) return;
      this.counters.keyframesResent++;
      this.logger.debug(`webrtc viewer ${session.address}: keyframe request answered from the GOP cache`);
      this.startReader(session, rtp, 'keyframe-request');
    });
  }

  /** Counters since start. */
  stats(): WebRtcOutputStats {
    return {
      maxViewers: this.options.maxViewers,
      ...this.counters,
      refused: { ...this.counters.refused },
      skips: this.counters.skips,
      iceServers: this.options.iceServers?.length ?? 0,
    };
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
      let route: WebRtcRoute | null = null;
      try {
        const rtt = s.pc.rtt();
        rttMs = rtt >= 0 ? rtt : null;
        if (s.connectedAtMs !== undefined) {
          const pair = s.pc.getSelectedCandidatePair();
          if (pair)
            route = {
              local: pair.local.type,
              remote: pair.remote.type,
              transport: pair.local.transportType.toLowerCase(),
            };
        }
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
        framesDropped: s.earlierReaderDrops + (stats?.framesDropped ?? 0) + s.catchUp.framesDropped,
        skips: s.catchUp.skips,
        behind: s.catchUp.behind,
        behindMs: Math.round(s.slot.behindMs()),
        lagMs: Math.max(stats?.lagMs ?? 0, s.catchUp.lagMs()),
        slot: s.slotIndex,
        connectedForMs: s.connectedAtMs === undefined ? 0 : nowMs - s.connectedAtMs,
        rttMs,
        route,
        keyframeRequests: s.keyframeRequests,
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
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.disconnectAll('closing');
  }

  /** The lowest slot index no session has (bounded /metrics labels). */
  private freeSlotIndex(): number {
    const taken = new Set([...this.sessions.values()].map((s) => s.slotIndex));
    let i = 0;
    while (taken.has(i)) i++;
    return i;
  }

  /** Logs a behind episode once at its start and once at its end; the slot counts the time between. */
  private behindChanged(session: Session, behind: boolean, lagMs: number): void {
    session.slot.setBehind(behind);
    if (behind) {
      this.counters.skips++;
      this.logger.warn(
        `webrtc viewer ${session.address} (${session.id.slice(0, 8)}) cannot keep up (lag ${Math.round(lagMs)} ms): keyframes only until it catches up`,
      );
    } else {
      this.logger.info(
        `webrtc viewer ${session.address} (${session.id.slice(0, 8)}) caught up after ${Math.round(lagMs)} ms (${session.catchUp.framesDropped} frames dropped in all)`,
      );
    }
  }

  /** Ends the viewers that were behind too long in the window. */
  private sweep(): void {
    for (const slot of this.slots.sweep()) {
      const session = slot.client.session;
      if (session)
        this.end(
          session,
          `too slow: behind for ${Math.round(slot.behindMs())} ms of the last ${this.slots.stats().windowMs / 1000} s`,
        );
    }
  }

  /** Closes the session's hub reader, keeping its drop count. */
  private closeReader(session: Session): void {
    const reader = session.reader;
    if (!reader) return;
    session.earlierReaderDrops += (reader.stats as Partial<HubReaderStats> | undefined)?.framesDropped ?? 0;
    reader.close();
    session.reader = undefined;
  }

  private end(session: Session, why: string): void {
    if (session.closed) return;
    session.closed = true;
    session.state = 'closed';
    this.sessions.delete(session.id);
    if (session.timer) clearTimeout(session.timer);
    this.closeReader(session);
    session.slot.release();
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
