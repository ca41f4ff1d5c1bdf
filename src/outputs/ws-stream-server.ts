/**
 * The WebSocket output of the hub: the live stream for web browsers
 * (docs/protocol.md, "WebSocket stream").
 *
 * Each client is its own hub reader with the slow-reader policy (the hub
 * skips a lagging reader to the next keyframe, or gives up on it), so one
 * slow phone never delays the camera or the other clients. Every access unit
 * is one binary message: a 32-byte header (version, flags, sequence number,
 * parameter generation, pts90k, capture wall-clock time) followed by the
 * Annex-B payload without the trailing AUD that raw TCP receivers need (a
 * WebSocket message already ends the frame). Encoded once per frame and
 * shared by all clients. JSON text messages carry the stream configuration
 * (on connect and on every parameter change) and answer clock pings so the
 * page can show capture-to-display latency across two clocks.
 *
 * WebSocket viewers have their own pool of slots with the same rules as
 * port 5000 (client-slots.ts): a cap per address, dropping clients that stay
 * behind, and the client behind longest giving way to a new one when full.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { JoinPolicy } from '../config.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { StreamFrame, StreamParams } from '../hub/stream-frame.js';
import { ClientSlots, type ClientSlot, type SlotPoolStats } from './client-slots.js';
import { SLOT_SWEEP_INTERVAL_MS } from './tcp-stream-server.js';
import {
  encodeWsMessage,
  WS_JOIN_POLICIES,
  WsFrameFlags,
  type WsConfigMessage,
  type WsJoinPolicy,
  type WsPongMessage,
} from './ws-protocol.js';

// The wire format lives in ws-protocol.ts (pure, shared with the web page); re-exported for existing importers.
export {
  WS_HEADER_BYTES,
  WS_PROTOCOL_VERSION,
  WsFrameFlags,
  type WsConfigMessage,
  type WsPongMessage,
} from './ws-protocol.js';

/** What the server needs from a hub reader (src/hub/stream-hub.ts HubReader). */
export interface WsHubReader {
  /** Next frame, or undefined when the queue is empty. */
  read(): StreamFrame | undefined;
  /** Called when frames become available after read() returned undefined. */
  onReadable(callback: () => void): void;
  /** Called when the hub gives up on this reader (over the hard limit). */
  onStalled(callback: () => void): void;
  /** Called with true when the reader goes over its soft limit, false when it caught up. */
  onBehindChange(callback: (behind: boolean) => void): void;
  /** True for a catch-up frame of a live-edge join (src/hub/hub-reader.ts). */
  isCatchUp?(frame: StreamFrame): boolean;
  /** The capture time a frame stands for (src/hub/hub-reader.ts; WebRTC's RTP time). */
  presentationCaptureTime?(frame: StreamFrame): number;
  /** Counters kept by the hub (frames, skips, lag), passed through to status. */
  readonly stats: unknown;
  close(): void;
}

/** What the server needs from the hub (src/hub/stream-hub.ts StreamHub). */
export interface WsHub {
  addReader(options: {
    name: string;
    join?: JoinPolicy;
    liveEdge?: 'keyframe' | 'catch-up';
    softLimitBytes?: number;
    softLimitMs?: number;
    hardLimitMs?: number;
  }): WsHubReader;
}

/** Options of {@link WsStreamServer}. */
export interface WsStreamServerOptions {
  hub: WsHub;
  logger?: Logger;
  /** How a new client joins unless it asks with `?join=`. Default 'latest-keyframe' (a picture at once). */
  join?: JoinPolicy;
  /** Slow-reader limits passed to the hub (defaults: the hub's own). */
  softLimitBytes?: number;
  softLimitMs?: number;
  hardLimitMs?: number;
  /** Most WebSocket clients at once; more are refused with HTTP 503 (unless one behind gives way). Default 32. */
  maxClients?: number;
  /** Most WebSocket clients from one address; more are refused with HTTP 429. Default 4. */
  maxClientsPerAddress?: number;
  /** A client behind its soft limit for this long out of any 30 s is dropped, ms. Default 10000. */
  behindLimitMs?: number;
  /** Monotonic clock for the slot rules, ms. Default performance.now(). */
  clock?: () => number;
  /** Socket send-buffer bytes above which we stop taking frames from the hub (its queue then applies the policy). Default 256 KiB. */
  sendHighWaterBytes?: number;
  /** Camera name sent in the config message. Default 'rearview'. */
  cameraName?: string;
  /** Wall clock, ms since the Unix epoch (injected in tests). Default Date.now. */
  now?: () => number;
  /**
   * Decides whether an upgrade may proceed (token, network allow-list,
   * cross-site check): return undefined to accept, or the HTTP status and
   * reason to refuse with. Default: accept everything.
   */
  authorize?: (req: IncomingMessage) => { status: number; reason: string } | undefined;
}

/** Per-client figures for /api/v1/status. */
export interface WsClientInfo {
  /** Remote address:port. */
  remote: string;
  /** Milliseconds since the client connected. */
  connectedMs: number;
  framesSent: number;
  bytesSent: number;
  /** Bytes waiting in the socket's send buffer. */
  bufferedBytes: number;
  /** Time spent behind the soft limit in the last 30 s, ms (the slot rules' measure). */
  behindMs: number;
  /** The hub reader's own counters (lag, skips). */
  hub: unknown;
}

const EMPTY = new Uint8Array(0);
const encodedCache = new WeakMap<StreamFrame, Uint8Array>();

/** Annex-B bytes of a frame without the trailing access unit delimiter. */
function payloadOf(frame: StreamFrame): Uint8Array {
  const a = frame.annexB;
  const n = a.length;
  // The hub appends exactly one AUD (00 00 00 01 09 xx) after the last NAL.
  if (
    n >= 6 &&
    a[n - 6] === 0 &&
    a[n - 5] === 0 &&
    a[n - 4] === 0 &&
    a[n - 3] === 1 &&
    ((a[n - 2] as number) & 0x1f) === 9
  ) {
    return a.subarray(0, n - 6);
  }
  if (n > 0) return a;
  // No prebuilt bytes: build them from the NAL list.
  let total = 0;
  for (const nal of frame.nals) if (nal.type !== 9) total += 4 + nal.data.length;
  if (total === 0) return EMPTY;
  const out = new Uint8Array(total);
  let at = 0;
  for (const nal of frame.nals) {
    if (nal.type === 9) continue;
    out[at + 3] = 1;
    out.set(nal.data, at + 4);
    at += 4 + nal.data.length;
  }
  return out;
}

/**
 * Encodes one frame as a version-1 binary message (docs/protocol.md):
 * header (32 bytes, big-endian) then the Annex-B payload. `extraFlags`
 * adds DISCONTINUITY for a client's first frame after a gap. Frames without
 * extra flags are cached, so N clients cost one encoding.
 */
export function encodeWsFrame(frame: StreamFrame, extraFlags = 0): Uint8Array {
  if (extraFlags === 0) {
    const cached = encodedCache.get(frame);
    if (cached) return cached;
  }
  const payload = payloadOf(frame);
  let flags = extraFlags;
  if (frame.isKey) flags |= WsFrameFlags.KEY;
  // The hub puts SPS and PPS first in every key frame; check rather than assume.
  const first = frame.nals[0];
  if (first && first.type === 7) flags |= WsFrameFlags.CONFIG;
  const out = encodeWsMessage(
    {
      flags,
      seq: frame.seq,
      generation: frame.params.generation,
      pts90k: frame.pts90k,
      capturedAtMs: frame.capturedAtMs,
    },
    payload,
  );
  if (extraFlags === 0) encodedCache.set(frame, out);
  return out;
}

/** Builds the config text message for `params`. */
export function configMessage(params: StreamParams, cameraName: string, serverTimeMs: number): WsConfigMessage {
  return {
    type: 'config',
    codec: params.codec,
    width: params.width,
    height: params.height,
    fps: params.fps,
    generation: params.generation,
    cameraName,
    serverTimeMs,
  };
}

class WsClient {
  framesSent = 0;
  bytesSent = 0;
  private params: StreamParams | undefined;
  private gap = true;
  private lastSeq: number | undefined;
  private inFlight = 0;
  private closed = false;
  readonly connectedAtMs: number;
  /** Set by the server right after construction. */
  slot: ClientSlot<WsClient> | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly remote: string,
    readonly reader: WsHubReader,
    private readonly server: WsStreamServer,
    private readonly highWater: number,
  ) {
    this.connectedAtMs = server.monoNow(); // a duration: a wall clock set meanwhile must not change it
    reader.onReadable(() => this.pump());
    reader.onStalled(() => {
      // 1013 "try again later": the page reconnects and starts at a fresh keyframe.
      this.close(1013, 'too slow', 'too slow for the stream (no progress past the backlog limit)');
    });
    reader.onBehindChange((behind) => this.slot?.setBehind(behind));
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.onText(String(data));
    });
    ws.on('close', () => this.close());
    ws.on('error', (err) => {
      server.log.debug(`${remote}: ${err.message}`);
      this.close();
    });
  }

  /** Moves frames from the hub queue to the socket while the socket keeps up. */
  pump(): void {
    while (!this.closed && this.ws.bufferedAmount < this.highWater) {
      const frame = this.reader.read();
      if (!frame) return;
      if (frame.params !== this.params) {
        if (this.params && frame.params.generation !== this.params.generation) this.gap = true;
        this.params = frame.params;
        this.ws.send(JSON.stringify(configMessage(frame.params, this.server.cameraName, this.server.now())));
      }
      // The hub may skip a slow reader forward to a keyframe: a jump in seq is a gap too.
      if (this.lastSeq !== undefined && frame.seq !== this.lastSeq + 1) this.gap = true;
      this.lastSeq = frame.seq;
      const catchUp = this.reader.isCatchUp?.(frame) ? WsFrameFlags.CATCH_UP : 0;
      const msg = encodeWsFrame(frame, (this.gap ? WsFrameFlags.DISCONTINUITY : 0) | catchUp);
      this.gap = false;
      this.inFlight++;
      this.framesSent++;
      this.bytesSent += msg.length;
      this.ws.send(msg, { binary: true }, () => {
        this.inFlight--;
        // The kernel took the bytes: more room in the socket, fetch more.
        if (this.inFlight === 0) this.pump();
      });
    }
  }

  private onText(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof msg !== 'object' || msg === null) return;
    const m = msg as { type?: unknown; id?: unknown; clientTimeMs?: unknown };
    if (m.type === 'ping' && typeof m.id === 'number' && typeof m.clientTimeMs === 'number') {
      const pong: WsPongMessage = {
        type: 'pong',
        id: m.id,
        clientTimeMs: m.clientTimeMs,
        serverTimeMs: this.server.now(),
      };
      this.ws.send(JSON.stringify(pong));
    }
  }

  info(): WsClientInfo {
    return {
      remote: this.remote,
      connectedMs: this.server.monoNow() - this.connectedAtMs,
      framesSent: this.framesSent,
      bytesSent: this.bytesSent,
      bufferedBytes: this.ws.bufferedAmount,
      behindMs: this.slot?.behindMs() ?? 0,
      hub: this.reader.stats,
    };
  }

  /** Closes with `code` and `reason` (or terminates); `why` is logged (once, with the figures). */
  close(code?: number, reason?: string, why?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.reader.close();
    this.slot?.release();
    this.server.forget(this, why ?? reason);
    try {
      if (code !== undefined) this.ws.close(code, reason);
      else this.ws.terminate();
    } catch {
      // already gone
    }
  }
}

/**
 * Serves the hub's live stream to WebSocket clients. Mount it on an HTTP
 * server with {@link attach} (listens for `upgrade` on one path) or call
 * {@link handleUpgrade} from your own upgrade listener.
 */
export class WsStreamServer {
  /** @internal */ readonly log: Logger;
  /** @internal */ readonly cameraName: string;
  /** @internal */ readonly now: () => number;
  /** @internal The slot rules' monotonic clock, ms. */ readonly monoNow: () => number;
  private readonly hub: WsHub;
  private readonly wss: WebSocketServer;
  private readonly clientSet = new Set<WsClient>();
  private readonly options: WsStreamServerOptions;
  private readonly detachers: Array<() => void> = [];
  private readonly clientListeners = new Set<(event: 'connected' | 'disconnected', remote: string) => void>();
  private closed = false;
  private readonly slots: ClientSlots<WsClient>;
  private readonly sweepTimer: NodeJS.Timeout;
  /**
   * When false, new clients are refused with HTTP 503 and {@link refusalReason}
   * (exclusive mode while recording). Default true.
   */
  accepting = true;
  /** How new clients join (settings may change it at run time; connected clients keep theirs). From options.join. */
  join: JoinPolicy;
  /** Why clients are refused while {@link accepting} is false (sent as the HTTP reason phrase). */
  refusalReason = 'Service Unavailable';

  constructor(options: WsStreamServerOptions) {
    this.options = options;
    this.hub = options.hub;
    this.log = (options.logger ?? silentLogger).child('ws');
    this.cameraName = options.cameraName ?? 'rearview';
    this.join = options.join ?? 'latest-keyframe';
    this.now = options.now ?? Date.now;
    this.monoNow = options.clock ?? (() => performance.now());
    // Video does not compress; deflate would only add CPU time and latency.
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: 64 * 1024,
      clientTracking: false,
    });
    this.slots = new ClientSlots<WsClient>({
      maxClients: options.maxClients ?? 32,
      maxPerAddress: options.maxClientsPerAddress ?? 4,
      behindLimitMs: options.behindLimitMs ?? 10_000,
      clock: this.monoNow,
    });
    this.sweepTimer = setInterval(() => this.sweep(), SLOT_SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  /** Nothing to start (clients arrive through upgrades); present for the lifecycle convention. */
  async start(): Promise<void> {
    // clients arrive through upgrades
  }

  /** Number of connected clients. */
  get clientCount(): number {
    return this.clientSet.size;
  }

  /** The slot pool's figures (caps, refusals by reason, evictions, clients dropped for being behind). */
  slotStats(): SlotPoolStats {
    return this.slots.stats();
  }

  /** Per-client figures for status pages. */
  clients(): WsClientInfo[] {
    return [...this.clientSet].map((c) => c.info());
  }

  /**
   * Listens for clients joining and leaving (the mode controller counts them
   * as stream clients); returns an unsubscribe function. Called once per
   * client for each event, `remote` is address:port.
   */
  onClients(listener: (event: 'connected' | 'disconnected', remote: string) => void): () => void {
    this.clientListeners.add(listener);
    return () => this.clientListeners.delete(listener);
  }

  /**
   * Closes every client with code 1013 ("try again later") and `reason`
   * (at most 120 bytes are sent), e.g. when exclusive mode switches to
   * recording. Does not change {@link accepting}.
   */
  disconnectAll(reason: string): void {
    const why = Buffer.from(reason).subarray(0, 120).toString();
    for (const client of [...this.clientSet]) client.close(1013, why);
  }

  /**
   * Handles upgrades to `path` (e.g. '/api/v1/live') on `server`. This
   * server owns every upgrade of `server`: an upgrade to any other path is
   * answered 404 and destroyed (Node stops managing a socket once it emits
   * 'upgrade', so an unclaimed one would otherwise be held forever).
   */
  attach(server: HttpServer, path: string): void {
    const listener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      // Node removes its own 'error' listener before 'upgrade': without
      // this, a peer that resets the connection crashes the process.
      socket.on('error', ignoreSocketError);
      const pathname = (req.url ?? '').split('?')[0];
      if (pathname === path) this.handleUpgrade(req, socket, head);
      else refuseUpgrade(socket, 404, 'Not Found');
    };
    server.on('upgrade', listener);
    this.detachers.push(() => server.off('upgrade', listener));
  }

  /** Completes a WebSocket upgrade and starts streaming to the new client. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Also set by attach(); repeated for callers that route upgrades themselves.
    if (socket.listenerCount('error') === 0) socket.on('error', ignoreSocketError);
    const address = req.socket.remoteAddress ?? '?';
    const refusal = this.options.authorize?.(req);
    if (refusal) {
      this.slots.noteRefused('not-allowed');
      this.log.info(`${address}: refused live stream: ${refusal.reason}`);
      refuseUpgrade(socket, refusal.status, refusal.reason);
      return;
    }
    if (this.closed) {
      this.slots.noteRefused('closing');
      refuseUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    if (!this.accepting) {
      this.slots.noteRefused('not-streaming');
      this.log.info(`${address}: refused live stream: ${this.refusalReason}`);
      refuseUpgrade(socket, 503, this.refusalReason);
      return;
    }
    const join = joinOfUrl(req.url ?? '', this.join);
    if (join === undefined) {
      this.log.info(`${address}: refused live stream: join must be one of ${WS_JOIN_POLICIES.join(', ')}`);
      refuseUpgrade(socket, 400, 'Bad Request: join must be latest-keyframe, next-keyframe or live-edge');
      return;
    }
    const admission = this.slots.admit(req.socket.remoteAddress);
    if (!admission.ok) {
      this.log.info(`${address}: refused live stream: ${admission.message}`);
      // 429 names the per-address cap; 503 a full pool, as before.
      if (admission.reason === 'per-address') refuseUpgrade(socket, 429, 'Too Many Connections From This Address');
      else refuseUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    if (admission.evict) {
      const victim = admission.evict;
      victim.client.close(
        1013,
        'gave way to a new viewer',
        `gave way to ${address}: behind for ${Math.round(victim.behindMs())} ms of the last ${this.slots.stats().windowMs / 1000} s with all slots taken`,
      );
    }
    // Without verifyClient the handshake completes synchronously: accept() takes the slot before another upgrade is looked at.
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req, join));
  }

  private accept(ws: WebSocket, req: IncomingMessage, join: WsJoinPolicy): void {
    // The mode may have switched while the handshake was in flight.
    if (this.closed || !this.accepting) {
      ws.terminate();
      return;
    }
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`;
    const reader = this.hub.addReader({
      name: `ws ${remote}`,
      join,
      // The CATCH_UP flag lets the page decode the cached GOP without showing it.
      liveEdge: 'catch-up',
      ...(this.options.softLimitBytes !== undefined ? { softLimitBytes: this.options.softLimitBytes } : {}),
      ...(this.options.softLimitMs !== undefined ? { softLimitMs: this.options.softLimitMs } : {}),
      ...(this.options.hardLimitMs !== undefined ? { hardLimitMs: this.options.hardLimitMs } : {}),
    });
    const client = new WsClient(ws, remote, reader, this, this.options.sendHighWaterBytes ?? 256 * 1024);
    client.slot = this.slots.add(req.socket.remoteAddress, client);
    this.clientSet.add(client);
    this.log.info(`${remote}: connected (${this.clientSet.size} WebSocket clients)`);
    this.notify('connected', remote);
    client.pump();
  }

  /** @internal Called by a client when it goes away. */
  forget(client: WsClient, why: string | undefined): void {
    if (this.clientSet.delete(client)) {
      this.log.info(`${client.remote}: ${why ?? 'disconnected'} after ${client.framesSent} frames`);
      this.notify('disconnected', client.remote);
    }
  }

  private notify(event: 'connected' | 'disconnected', remote: string): void {
    for (const listener of this.clientListeners) {
      try {
        listener(event, remote);
      } catch (err) {
        this.log.error(`client listener failed: ${(err as Error).message}`);
      }
    }
  }

  /** Drops the clients that were behind too long in the window. */
  private sweep(): void {
    for (const slot of this.slots.sweep()) {
      slot.client.close(
        1013,
        'too slow',
        `behind the stream for ${Math.round(slot.behindMs())} ms of the last ${this.slots.stats().windowMs / 1000} s`,
      );
    }
  }

  /** Disconnects every client (code 1001, going away) and stops accepting. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const detach of this.detachers.splice(0)) detach();
    for (const client of [...this.clientSet]) client.close(1001, 'server closing');
    this.wss.close();
  }
}

/**
 * The `join` query parameter of an upgrade URL: `fallback` when absent, undefined when it is not
 * one of {@link WS_JOIN_POLICIES} (the upgrade is then refused with 400).
 */
export function joinOfUrl(url: string, fallback: WsJoinPolicy): WsJoinPolicy | undefined {
  const q = url.indexOf('?');
  if (q < 0) return fallback;
  const values = new URLSearchParams(url.slice(q + 1)).getAll('join');
  if (values.length === 0) return fallback;
  if (values.length > 1) return undefined;
  const v = values[0] as string;
  return (WS_JOIN_POLICIES as readonly string[]).includes(v) ? (v as WsJoinPolicy) : undefined;
}

/** 'error' listener for upgrade sockets (one is needed, or a reset crashes the process). */
function ignoreSocketError(): void {
  // A peer that resets mid-upgrade is simply gone: the socket closes and nothing needs reporting.
}

/** Time a refused upgrade socket gets to flush its answer before it is destroyed, ms. */
const REFUSAL_LINGER_MS = 2000;

/**
 * Answers a refused upgrade with `status` and makes sure the socket goes
 * away: FIN first (polite), then destroy after {@link REFUSAL_LINGER_MS}
 * in case the peer never closes its side (headersTimeout no longer applies).
 */
function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  if (socket.listenerCount('error') === 0) socket.on('error', ignoreSocketError);
  const text = reason.replace(/[^\x20-\x7e]/g, '');
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
