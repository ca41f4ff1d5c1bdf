/**
 * One WHIP target (RFC 9725; `--publish whip+https://[TOKEN@]host/path`):
 * the camera offers one send-only H.264 track, POSTs the SDP offer to the
 * endpoint (bearer token when given), applies the answer, and sends RTP once
 * ICE and DTLS are up. DELETE on the session's Location when it ends.
 *
 * - The WebRTC stack is the one of the WHEP viewers (node-datachannel):
 *   H264RtpPacketizer (RFC 6184 mode 1, FU-A/STAP-A), RTCP sender reports,
 *   NACKs answered from a bounded buffer. No transcoding: the hub's access
 *   units as they are, keyframes with SPS/PPS first (the hub puts them there
 *   before every IDR). RTP timestamps are the capture time at 90 kHz, never
 *   going back.
 * - A hub reader per session, joined on the cached keyframe (the receiver
 *   starts decoding at once); a PLI or FIR from the server starts the reader
 *   again on the cached keyframe (the encoder is never restarted for one
 *   receiver), at most once a second.
 * - Failures, reconnects, logging and status as the ffmpeg publishers
 *   (publisher.ts): one log line per state or cause, backoff with jitter,
 *   credentials masked everywhere; the token never leaves the Authorization
 *   header, which goes only to the endpoint's origin.
 * - https: Node verifies the server's certificate (system CAs or publishCa).
 *
 * The daemon imports this file only when a WHIP target is configured, and it
 * loads the WebRTC stack at its first session.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type ClientRequest, type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { HubReader, HubReaderOptions } from '../hub/hub-reader.js';
import type { StreamParams } from '../hub/stream-frame.js';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { toNdcIceServers, type IceServerConfig } from '../util/ice-servers.js';
import { maskSecrets, NAME_PLACEHOLDER, type PublishTarget, whipEndpoint } from '../util/publish-url.js';
import { type PublishErrorCode, type PublishFailure, PublishAttempts } from './publish-attempts.js';
import { PublishBackoff } from './publish-backoff.js';
import type { PublisherStatus, PublishHub } from './publisher.js';
import { hasKeyframeRequest, KEYFRAME_RESEND_MIN_INTERVAL_MS } from './webrtc-output.js';

type Ndc = typeof import('node-datachannel');
type PeerConnection = InstanceType<Ndc['PeerConnection']>;
type Track = ReturnType<PeerConnection['addTrack']>;
type RtpConfig = InstanceType<Ndc['RtpPacketizationConfig']>;

/** The hub as a WHIP publisher needs it: readers, and the parameter sets for the offer's profile. */
export interface WhipHub extends PublishHub {
  readonly params: StreamParams | undefined;
}

/** Options of {@link WhipPublisher}. */
export interface WhipPublisherOptions {
  target: PublishTarget;
  index: number;
  /** Replaces `{name}` in the URL. */
  name: string;
  hub: WhipHub;
  /** CA certificates (PEM file) for whip+https; default the system's. */
  caFile?: string | undefined;
  /** STUN/TURN servers (config `webrtcIceServers`), for a server beyond the camera's network. */
  iceServers?: readonly IceServerConfig[];
  /** Slow-reader limits of the session's HubReader. */
  reader?: Omit<HubReaderOptions, 'name' | 'join'>;
  /** A session not sending media this long after its offer went out is ended, ms. Default 15000. */
  connectTimeoutMs?: number;
  backoff?: PublishBackoff;
  logger?: Logger;
  clock: Clock;
  /** Loads the WebRTC stack (tests may replace it). */
  loadStack?: () => Promise<Ndc>;
}

/** WHIP's status entry: the publishers' fields and the keyframe requests the server sent. */
export interface WhipPublisherStatus extends PublisherStatus {
  keyframeRequests: number;
}

/** Payload type of the offered H.264 format (dynamic range; the answer keeps the offer's). */
const PAYLOAD_TYPE = 96;
/** Longest answer read (an SDP answer is a few KB). */
const MAX_ANSWER_BYTES = 64 * 1024;
/** The DELETE at the end of a session may take this long, ms. */
const DELETE_TIMEOUT_MS = 2000;
/**
 * A server that sent RTCP (receiver reports, about once a second) and then
 * nothing for this long is gone, ms. ICE consent alone takes about 30 s to
 * notice (RFC 7675); a server that never sends RTCP is left to it.
 */
export const RTCP_SILENCE_MS = 10_000;
/** Without parameter sets yet (no keyframe seen), look again this often, ms. */
const NO_PICTURE_RETRY_MS = 500;

type EndReason = PublishFailure | { restartNow: string };

interface Session {
  pc: PeerConnection | undefined;
  track: Track | undefined;
  rtp: RtpConfig | undefined;
  reader: HubReader | undefined;
  generation: number;
  request: ClientRequest | undefined;
  /** The session's resource (Location), same origin as the endpoint; DELETEd at the end. */
  location: string | undefined;
  connectTimer: TimerHandle | undefined;
  /** Checks RTCP silence while publishing. */
  silenceTimer: TimerHandle | undefined;
  /** When the server's last RTCP arrived (monotonic ms); undefined before the first. */
  lastRtcpAtMs: number | undefined;
  publishingAtMs: number | undefined;
  ended: boolean;
  keyframeStartAtMs: number | undefined;
  lastCaptureMs: number;
  lastRtpTimestamp: number;
}

/** A WHIP request failed: code and words for the status. */
class WhipError extends Error {
  constructor(
    readonly code: PublishErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Node's codes for a certificate that does not verify (chain, dates, name). */
const CERT_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|HOSTNAME|EXPIRED|NOT_YET_VALID|ERR_SSL|ERR_TLS/;

/** See the file comment. */
export class WhipPublisher {
  readonly index: number;
  private readonly target: PublishTarget;
  private readonly url: string;
  private readonly shown: string;
  private readonly endpoint: string;
  private readonly token: string | undefined;
  private readonly options: WhipPublisherOptions;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly backoff: PublishBackoff;
  private readonly connectTimeoutMs: number;
  private stack: Promise<Ndc> | undefined;
  private readonly attempts: PublishAttempts;
  private session: Session | undefined;
  private runs = 0;
  private frames = 0;
  private bytes = 0;
  private droppedBefore = 0;
  private keyframeRequests = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private deletes: Array<Promise<void>> = [];

  constructor(options: WhipPublisherOptions) {
    this.options = options;
    this.index = options.index;
    this.target = options.target;
    this.url = options.target.url.split(NAME_PLACEHOLDER).join(options.name);
    this.shown = options.target.masked.split(NAME_PLACEHOLDER).join(options.name);
    const { endpoint, token } = whipEndpoint(this.url);
    this.endpoint = endpoint;
    this.token = token;
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock;
    this.backoff = options.backoff ?? new PublishBackoff();
    this.connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
    this.attempts = new PublishAttempts(this.clock, this.logger, this.shown, () => this.attempt());
  }

  /** The target as shown (masked). */
  get shownUrl(): string {
    return this.shown;
  }

  /** Starts the first session. */
  start(): void {
    this.logger.info(`connecting to ${this.shown} (${this.target.profile} profile)`);
    this.attempt();
  }

  /** Ends the session (DELETE on its resource) and every timer. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.attempts.cancelRetry();
      if (this.session) this.endSession(this.session, { restartNow: 'closing' });
      await Promise.all(this.deletes);
      this.attempts.setState('stopped');
    })();
    return this.closing;
  }

  /** Figures for /api/v1/status. */
  status(): WhipPublisherStatus {
    const dropped = this.droppedBefore + (this.session?.reader?.stats.framesDropped ?? 0);
    const attempts = this.attempts.status();
    return {
      index: this.index,
      scheme: this.target.scheme,
      url: this.shown,
      profile: this.target.profile,
      state: attempts.state,
      sinceMs: attempts.sinceMs,
      frames: this.frames,
      bytes: this.bytes,
      framesDropped: dropped,
      reconnects: Math.max(0, this.runs - 1),
      lastError: attempts.lastError,
      lastErrorCode: attempts.lastErrorCode,
      retryInMs: attempts.retryInMs,
      keyframeRequests: this.keyframeRequests,
    };
  }

  private attempt(): void {
    this.attempts.attemptStarted();
    if (this.closed) return;
    const params = this.options.hub.params;
    if (!params) {
      // No keyframe yet: the offer needs the stream's profile. Not a failure; look again soon.
      this.attempts.retryLater(NO_PICTURE_RETRY_MS);
      return;
    }
    this.runs++;
    this.attempts.setState('connecting');
    const session: Session = {
      pc: undefined,
      track: undefined,
      rtp: undefined,
      reader: undefined,
      generation: params.generation,
      request: undefined,
      location: undefined,
      connectTimer: undefined,
      silenceTimer: undefined,
      lastRtcpAtMs: undefined,
      publishingAtMs: undefined,
      ended: false,
      keyframeStartAtMs: undefined,
      lastCaptureMs: Number.NEGATIVE_INFINITY,
      lastRtpTimestamp: 0,
    };
    this.session = session;
    session.connectTimer = this.clock.setTimeout(
      () =>
        this.endSession(session, {
          code: 'ERR_PUBLISH_TIMEOUT',
          message: `timed out: not publishing ${Math.round(this.connectTimeoutMs / 1000)} s after starting (server not answering, or ICE/DTLS did not connect)`,
        }),
      this.connectTimeoutMs,
    );
    void this.negotiate(session, params).catch((err: unknown) => {
      const e =
        err instanceof WhipError ? err : new WhipError('ERR_PUBLISH_REFUSED', this.mask((err as Error).message));
      this.endSession(session, { code: e.code, message: e.message });
    });
  }

  /** Offer, POST, answer. Throws WhipError. */
  private async negotiate(session: Session, params: StreamParams): Promise<void> {
    let ndc: Ndc;
    try {
      this.stack ??= (this.options.loadStack ?? (() => import('node-datachannel')))();
      ndc = await this.stack;
    } catch (err) {
      this.stack = undefined;
      throw new WhipError('ERR_PUBLISH_NO_WEBRTC', `the WebRTC stack did not load: ${(err as Error).message}`);
    }
    if (session.ended) return;
    const pc = new ndc.PeerConnection(`whip-${this.index}`, {
      iceServers: toNdcIceServers(this.options.iceServers ?? []),
      disableAutoNegotiation: true,
    });
    session.pc = pc;
    const video = new ndc.Video('0', 'SendOnly');
    const profileLevelId = /^avc1\.([0-9a-fA-F]{6})$/.exec(params.codec)?.[1] ?? '42e01f';
    video.addH264Codec(
      PAYLOAD_TYPE,
      `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=${profileLevelId.toLowerCase()}`,
    );
    const ssrc = randomInt(1, 0xffff_fffe);
    video.addSSRC(ssrc, 'rearview', 'rearview', 'video');
    const track = pc.addTrack(video);
    session.track = track;
    const rtp = new ndc.RtpPacketizationConfig(ssrc, 'rearview', PAYLOAD_TYPE, 90_000);
    session.rtp = rtp;
    const packetizer = new ndc.H264RtpPacketizer('StartSequence', rtp);
    packetizer.addToChain(new ndc.RtcpSrReporter(rtp));
    packetizer.addToChain(new ndc.RtcpNackResponder(512));
    track.setMediaHandler(packetizer);
    track.onOpen(() => this.publishing(session));
    track.onMessage((message) => {
      session.lastRtcpAtMs = this.clock.monoNow();
      if (hasKeyframeRequest(message)) this.keyframeRequested(session);
    });
    track.onClosed(() => this.lost(session, 'the media track closed'));
    pc.onStateChange((state) => {
      if (state === 'failed' || state === 'disconnected' || state === 'closed') this.lost(session, `WebRTC ${state}`);
    });

    const gathered = new Promise<void>((resolve) => {
      pc.onGatheringStateChange((state) => {
        if (state === 'complete') resolve();
      });
    });
    pc.setLocalDescription('offer');
    if (pc.gatheringState() !== 'complete') await gathered;
    if (session.ended) return;
    const offer = pc.localDescription()?.sdp;
    if (!offer) throw new WhipError('ERR_PUBLISH_EXITED', 'the WebRTC stack made no offer');

    const { answer, location } = await this.post(session, offer);
    if (session.ended) {
      if (location) this.deleteResource(location); // ended while the answer was on its way
      return;
    }
    session.location = location;
    try {
      pc.setRemoteDescription(answer, 'answer');
    } catch (err) {
      const message = (err as Error).message;
      // libdatachannel under CPU contention sometimes drops its own ICE transport before a good
      // answer goes in (seen once in the bench at load 11): not the server's fault; the retry works.
      if (/without ICE transport/.test(message))
        throw new WhipError(
          'ERR_PUBLISH_CONNECT',
          `the WebRTC stack lost its ICE transport before the answer went in (${message})`,
        );
      throw new WhipError('ERR_PUBLISH_REFUSED', `the server's answer could not be used: ${message}`);
    }
  }

  /** POSTs the offer; resolves with the answer and the session's resource. Throws WhipError. */
  private post(session: Session, offer: string): Promise<{ answer: string; location: string | undefined }> {
    const url = new URL(this.endpoint);
    let ca: Buffer | undefined;
    if (url.protocol === 'https:' && this.options.caFile) {
      try {
        ca = readFileSync(this.options.caFile);
      } catch (err) {
        throw new WhipError('ERR_PUBLISH_TLS', `cannot read publishCa: ${(err as NodeJS.ErrnoException).code ?? ''}`);
      }
    }
    const body = Buffer.from(offer);
    return new Promise((resolve, reject) => {
      const req = this.request(url, 'POST', ca, { 'content-type': 'application/sdp', 'content-length': body.length });
      session.request = req;
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.requestError(err)));
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            req.destroy();
            reject(
              new WhipError('ERR_PUBLISH_REFUSED', `the server's answer is longer than ${MAX_ANSWER_BYTES} bytes`),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err: NodeJS.ErrnoException) => reject(this.requestError(err)));
        res.on('end', () => {
          session.request = undefined;
          const status = res.statusCode ?? 0;
          if (status === 401 || status === 403)
            return reject(
              new WhipError(
                'ERR_PUBLISH_AUTH',
                `the server refused the ${this.token === undefined ? 'request (no token given)' : 'token'} (HTTP ${status})`,
              ),
            );
          if (status !== 201 && status !== 200)
            return reject(
              new WhipError(
                'ERR_PUBLISH_REFUSED',
                `the server answered HTTP ${status}${status >= 300 && status < 400 ? ' (redirects are not followed)' : ''}`,
              ),
            );
          const answer = Buffer.concat(chunks).toString('utf8');
          if (!answer.startsWith('v=0'))
            return reject(new WhipError('ERR_PUBLISH_REFUSED', 'the server answered with no SDP'));
          resolve({ answer, location: this.sameOrigin(res.headers.location, url) });
        });
      });
      req.end(body);
    });
  }

  /** An HTTP request to the endpoint's origin, the token in its Authorization header. */
  private request(
    url: URL,
    method: 'POST' | 'DELETE',
    ca: Buffer | undefined,
    headers: Record<string, string | number>,
  ): ClientRequest {
    const all = { ...headers, ...(this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}) };
    if (url.protocol === 'https:')
      return httpsRequest(url, {
        method,
        headers: all,
        agent: false,
        rejectUnauthorized: true,
        ...(ca !== undefined ? { ca } : {}),
      });
    return httpRequest(url, { method, headers: all, agent: false });
  }

  /** The Location header as an absolute URL, only when on the endpoint's origin (the token goes there). */
  private sameOrigin(location: string | undefined, endpoint: URL): string | undefined {
    if (!location) return undefined;
    try {
      const resolved = new URL(location, endpoint);
      if (resolved.origin === endpoint.origin) return resolved.href;
      this.logger.debug(`${this.shown}: the session resource is on another origin; it will not be deleted`);
    } catch {
      // not a URL: nothing to delete
    }
    return undefined;
  }

  private requestError(err: NodeJS.ErrnoException): WhipError {
    const code = err.code ?? '';
    const words =
      code === 'ECONNREFUSED'
        ? 'connection refused'
        : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? 'unknown host'
          : code === 'EHOSTUNREACH' || code === 'ENETUNREACH'
            ? 'host unreachable'
            : code === 'ECONNRESET' || code === 'EPIPE'
              ? 'the server closed the connection'
              : this.mask(err.message);
    if (CERT_CODES.test(code))
      return new WhipError(
        'ERR_PUBLISH_TLS',
        `the server's certificate did not verify: ${this.mask(err.message)} (${code})`,
      );
    if (code === 'ECONNRESET' || code === 'EPIPE') return new WhipError('ERR_PUBLISH_REFUSED', words);
    return new WhipError('ERR_PUBLISH_CONNECT', `${words}${code && words !== code ? ` (${code})` : ''}`);
  }

  /** ICE and DTLS are up: media flows from a reader joined on the cached keyframe. */
  private publishing(session: Session): void {
    if (session.ended || this.session !== session) return;
    session.publishingAtMs = this.clock.monoNow();
    if (session.connectTimer !== undefined) this.clock.clearTimeout(session.connectTimer);
    session.connectTimer = undefined;
    this.attempts.published();
    this.watchSilence(session);
    this.startReader(session);
  }

  /** Ends a session whose server stopped sending RTCP (killed, unplugged) sooner than ICE would. */
  private watchSilence(session: Session): void {
    session.silenceTimer = this.clock.setTimeout(() => {
      if (session.ended) return;
      const last = session.lastRtcpAtMs;
      if (last !== undefined && this.clock.monoNow() - last >= RTCP_SILENCE_MS) {
        this.lost(session, `no RTCP from the server for ${RTCP_SILENCE_MS / 1000} s`);
        return;
      }
      this.watchSilence(session);
    }, 1000);
  }

  /** A reader on the cached keyframe (SPS, PPS, IDR, the frames since, then live). */
  private startReader(session: Session): void {
    if (session.reader) {
      this.droppedBefore += session.reader.stats.framesDropped;
      session.reader.close();
    }
    session.keyframeStartAtMs = this.clock.monoNow();
    const reader = this.options.hub.addReader({
      name: `publish ${this.index} ${this.shown}`,
      join: 'latest-keyframe',
      ...this.options.reader,
    });
    session.reader = reader;
    reader.onReadable(() => this.pump(session, reader));
    reader.onStalled(() =>
      this.endSession(session, {
        code: 'ERR_PUBLISH_STALLED',
        message: 'the stream could not be sent (no progress past the backlog limit)',
      }),
    );
    this.pump(session, reader);
  }

  private pump(session: Session, reader: HubReader): void {
    const { track, rtp } = session;
    if (!track || !rtp) return;
    for (let frame = reader.read(); frame; frame = reader.read()) {
      if (session.ended || session.reader !== reader) return;
      if (frame.params.generation !== session.generation) {
        // New SPS/PPS (resolution change, source restart): the negotiated session may not fit; start anew.
        this.endSession(session, { restartNow: 'the stream parameters changed' });
        return;
      }
      // Capture time at 90 kHz; frames sent again from the GOP cache (a keyframe request) follow
      // the last one a tick apart, so RTP time never goes back.
      if (frame.capturedAtMs > session.lastCaptureMs) {
        rtp.timestamp = Math.round(frame.capturedAtMs * 90) % 0x1_0000_0000;
        session.lastCaptureMs = frame.capturedAtMs;
      } else {
        rtp.timestamp = (session.lastRtpTimestamp + 1) % 0x1_0000_0000;
      }
      session.lastRtpTimestamp = rtp.timestamp;
      const bytes = frame.annexB;
      try {
        track.sendMessageBinary(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      } catch (err) {
        this.lost(session, `sending failed: ${(err as Error).message}`);
        return;
      }
      this.frames++;
      this.bytes += bytes.byteLength;
    }
  }

  /** A PLI or FIR: the server lost its reference pictures; it gets the cached keyframe again. */
  private keyframeRequested(session: Session): void {
    // Out of the RTCP callback: the reader is swapped on a clean stack.
    setImmediate(() => {
      if (session.ended || !session.reader) return;
      this.keyframeRequests++;
      const since = this.clock.monoNow() - (session.keyframeStartAtMs ?? Number.NEGATIVE_INFINITY);
      if (since < KEYFRAME_RESEND_MIN_INTERVAL_MS) return;
      this.logger.debug(`${this.shown}: keyframe request answered from the GOP cache`);
      this.startReader(session);
    });
  }

  /** The connection broke (before or after media flowed). */
  private lost(session: Session, why: string): void {
    if (session.ended) return;
    this.endSession(
      session,
      session.publishingAtMs === undefined
        ? { code: 'ERR_PUBLISH_CONNECT', message: `${why} before media flowed (ICE/DTLS did not connect)` }
        : { code: 'ERR_PUBLISH_REFUSED', message: `the connection to the server was lost (${why})` },
    );
  }

  private endSession(session: Session, reason: EndReason): void {
    if (session.ended) return;
    session.ended = true;
    if (session.connectTimer !== undefined) this.clock.clearTimeout(session.connectTimer);
    session.connectTimer = undefined;
    if (session.silenceTimer !== undefined) this.clock.clearTimeout(session.silenceTimer);
    session.silenceTimer = undefined;
    session.request?.destroy();
    if (session.reader) {
      this.droppedBefore += session.reader.stats.framesDropped;
      session.reader.close();
    }
    // libdatachannel calls back from its own threads; closing inside one of its callbacks is allowed.
    try {
      session.track?.close();
    } catch {
      // already closed
    }
    try {
      session.pc?.close();
    } catch {
      // already closed
    }
    if (session.location) this.deleteResource(session.location);
    if (this.session === session) this.session = undefined;
    if (this.closed) return;
    const publishedFor = session.publishingAtMs === undefined ? 0 : this.clock.monoNow() - session.publishingAtMs;
    if ('restartNow' in reason) {
      this.logger.info(`publishing to ${this.shown}: ${reason.restartNow}; starting a new session`);
      this.attempt();
      return;
    }
    this.fail(reason, publishedFor);
  }

  /** DELETE on the session's resource (RFC 9725 section 4.2): best effort, bounded, never thrown. */
  private deleteResource(location: string): void {
    const url = new URL(location);
    let ca: Buffer | undefined;
    try {
      if (url.protocol === 'https:' && this.options.caFile) ca = readFileSync(this.options.caFile);
    } catch {
      return; // reported by the POST already
    }
    const done = new Promise<void>((resolve) => {
      const req = this.request(url, 'DELETE', ca, {});
      const timer = setTimeout(() => req.destroy(), DELETE_TIMEOUT_MS);
      const finish = (): void => {
        clearTimeout(timer);
        resolve();
      };
      req.on('error', (err) => {
        this.logger.debug(`${this.shown}: DELETE of the session failed: ${this.mask(err.message)}`);
        finish();
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', finish);
        res.on('error', finish);
      });
      req.end();
    });
    this.deletes.push(done);
    void done.then(() => {
      this.deletes = this.deletes.filter((d) => d !== done);
    });
  }

  /** Records a failure, logs it once per distinct cause, and schedules the next attempt. */
  private fail(error: PublishFailure, publishedForMs: number): void {
    if (this.closed) return;
    if (error.code === 'ERR_PUBLISH_NO_WEBRTC') this.attempts.fail(error, 60_000, 'unavailable');
    else this.attempts.fail(error, this.backoff.next(publishedForMs), 'retrying');
  }

  private mask(text: string): string {
    let out = maskSecrets(text.split(this.url).join(this.shown), this.target);
    if (this.token !== undefined) out = out.split(this.token).join('***');
    return out;
  }
}
