/**
 * The raw H.264 output on TCP port 5000: every client receives the hub's
 * Annex-B bytes (SPS+PPS before every IDR, an AUD after every frame), no
 * container, as the Velovision device and its apps expect.
 *
 * Each client is a HubReader. Frames move from the reader's bounded queue to
 * the socket only while the socket's own buffer is small (write() returned
 * true and writableLength is under socketBufferBytes); otherwise we wait for
 * 'drain'. So the backlog lives in the reader's queue, where the slow-client
 * policy (skip to the next keyframe, disconnect on the hard limit) applies,
 * and never piles up inside Node's socket buffer.
 *
 * Who gets a connection slot is decided by ClientSlots (client-slots.ts):
 * a cap per address, dropping clients that stay behind, and letting the
 * client behind longest give way to a new one when all slots are taken.
 */
import { EventEmitter } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { silentLogger, type Logger } from '../log/logger.js';
import type { HubReader, ReaderJoin } from '../hub/hub-reader.js';
import { LatencyWindow, type LatencySummary } from '../hub/latency-window.js';
import type { StreamHub } from '../hub/stream-hub.js';
import { ClientSlots, type ClientSlot, type SlotPoolStats, type SlotRefusalReason } from './client-slots.js';

/** A compiled network allow-list (src/api/network-allow-list.ts AllowList). */
export interface AddressFilter {
  allows(address: string | undefined): boolean;
}

/** How often the outputs look for clients behind too long, ms (real time; the accounting uses the injected clock). */
export const SLOT_SWEEP_INTERVAL_MS = 250;

/** Options of {@link TcpStreamServer}. Defaults match defaultConfig(). */
export interface TcpStreamServerOptions {
  hub: StreamHub;
  /** Bind address: '0.0.0.0' (default), '::' for IPv4+IPv6, '127.0.0.1', ... */
  host?: string;
  /** TCP port; 0 picks a free one. Default 5000. */
  port?: number;
  /** Most simultaneous clients; more are accepted and closed at once (unless one behind gives way). Default 32. */
  maxClients?: number;
  /** Most simultaneous clients from one address. Default 4. */
  maxClientsPerAddress?: number;
  /** A client behind its soft limit for this long out of any 30 s is dropped, ms. Default 10000. */
  behindLimitMs?: number;
  /** Join policy of new clients. Default 'latest-keyframe'. 'live-edge' is the reader's 'keyframe' mode: raw clients cannot be told to hide a burst. */
  join?: ReaderJoin;
  /** Slow-client limits handed to each client's HubReader (defaults 2 MB, 500 ms, 10000 ms). */
  softLimitBytes?: number;
  softLimitMs?: number;
  hardLimitMs?: number;
  /** Most bytes left in a socket's own send buffer before waiting for 'drain'. Default 64 KiB. */
  socketBufferBytes?: number;
  /** TCP keepalive initial delay, ms. Default 5000. */
  keepAliveMs?: number;
  /** The daemon's compiled network allow-list; a client outside it is closed at once. Default: everyone. */
  allowList?: AddressFilter;
  logger?: Logger;
  /** Monotonic clock in ms, the hub's clock. Default performance.now(). */
  clock?: () => number;
}

/** Figures of one connected client. */
export interface TcpClientStats {
  id: number;
  /** "address:port" of the client. */
  remote: string;
  /** Monotonic ms since connection. */
  connectedMs: number;
  framesSent: number;
  bytesSent: number;
  /** Frames skipped by the slow-client policy. */
  framesDropped: number;
  dropEvents: number;
  /** Backlog in the client's queue. */
  queuedFrames: number;
  queuedBytes: number;
  /** Bytes waiting in the socket's own buffer. */
  socketBufferedBytes: number;
  /** Age of the oldest queued frame, ms. */
  lagMs: number;
  /** Time spent behind the soft limit in the last 30 s, ms (the slot rules' measure). */
  behindMs: number;
}

/** Figures of the whole TCP output. */
export interface TcpServerStats {
  clients: TcpClientStats[];
  /** Connections accepted and refused (any reason; by reason in `slots.refused`) since start. */
  accepted: number;
  refused: number;
  /** Clients disconnected for staying past the hard limit. */
  stalledDisconnects: number;
  /** The slot pool: caps, refusals by reason, evictions, clients dropped for being behind. */
  slots: SlotPoolStats;
  /**
   * Server-added latency: from the hub receiving a complete access unit
   * (deliveredAtMono) to its bytes being handed to a client socket, over the
   * last 4096 writes of live frames to any client (frames replayed from the
   * join cache are not counted: their age is the cache's, not the server's delay).
   */
  serverLatency: LatencySummary;
}

interface Client {
  id: number;
  socket: Socket;
  reader: HubReader;
  remote: string;
  connectedAtMs: number;
  framesSent: number;
  bytesSent: number;
  waitingForDrain: boolean;
  closed: boolean;
  /** Frames before this hub sequence number came from the join cache: not live, so not latency samples. */
  firstLiveSeq: number;
  /** Set right after the client is built (the slot refers back to it). */
  slot?: ClientSlot<Client>;
}

/** Formats a host for a URL (brackets around IPv6). */
export function formatHostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Typed events of the TCP output (status only, never on the media path). */
export interface TcpStreamServerEvents {
  /** A client was accepted: its id and "address:port". */
  'client-connected': [id: number, remote: string];
  /** A client left or was disconnected, with the reason. */
  'client-disconnected': [id: number, remote: string, reason: string];
}

/** The TCP output; see the file comment. start() binds, close() disconnects everyone. */
export class TcpStreamServer extends EventEmitter<TcpStreamServerEvents> {
  /**
   * While false, new connections are closed at once (exclusive mode while
   * recording). Default true.
   */
  accepting = true;
  private readonly hub: StreamHub;
  private readonly host: string;
  private readonly port: number;
  private readonly maxClients: number;
  private readonly join: ReaderJoin;
  private readonly softLimitBytes: number | undefined;
  private readonly softLimitMs: number | undefined;
  private readonly hardLimitMs: number | undefined;
  private readonly socketBufferBytes: number;
  private readonly keepAliveMs: number;
  private readonly allowList: AddressFilter | undefined;
  private readonly slots: ClientSlots<Client>;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private server: Server | undefined;
  private readonly clients = new Map<number, Client>();
  /** Connections accepted since start; also the id of the latest client (ids start at 1). */
  private accepted = 0;
  private refused = 0;
  private stalledDisconnects = 0;
  private readonly latency = new LatencyWindow(4096);
  private closing: Promise<void> | undefined;
  private bound: { host: string; port: number } | undefined;
  /** Whether the listening socket should be open (setListening), and the transition in progress. */
  private wantListening = true;
  private listening: Promise<void> = Promise.resolve();
  private relistenTimer: NodeJS.Timeout | undefined;

  constructor(options: TcpStreamServerOptions) {
    super();
    this.hub = options.hub;
    this.host = options.host ?? '0.0.0.0';
    this.port = options.port ?? 5000;
    this.maxClients = options.maxClients ?? 32;
    this.join = options.join ?? 'latest-keyframe';
    this.softLimitBytes = options.softLimitBytes;
    this.softLimitMs = options.softLimitMs;
    this.hardLimitMs = options.hardLimitMs;
    this.socketBufferBytes = options.socketBufferBytes ?? 64 * 1024;
    this.keepAliveMs = options.keepAliveMs ?? 5000;
    this.allowList = options.allowList;
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? (() => performance.now());
    this.slots = new ClientSlots<Client>({
      maxClients: this.maxClients,
      maxPerAddress: options.maxClientsPerAddress ?? 4,
      behindLimitMs: options.behindLimitMs ?? 10_000,
      clock: this.clock,
    });
  }

  /** Binds and listens. Resolves with the bound address (the real port when 0 was asked). */
  async start(): Promise<{ host: string; port: number }> {
    if (this.server) throw new Error('TcpStreamServer already started');
    const server = createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: this.keepAliveMs }, (socket) =>
      this.accept(socket),
    );
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host: this.host, port: this.port }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => this.logger.error(`server error: ${err.message}`));
    this.sweepTimer = setInterval(() => this.sweep(), SLOT_SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
    const address = server.address() as AddressInfo;
    this.bound = { host: this.host, port: address.port };
    this.logger.info(`stream listening on tcp://${formatHostForUrl(this.host)}:${address.port}`);
    return this.bound;
  }

  /**
   * Closes (false) or reopens (true) the listening socket on the same
   * address and port: exclusive mode's recording phase refuses connections
   * at the TCP level, as the device did with nothing serving port 5000.
   * Connected clients are not touched (see disconnectAll). A reopen that
   * fails (port taken meanwhile) is logged and retried every second.
   */
  setListening(on: boolean): Promise<void> {
    this.wantListening = on;
    this.listening = this.listening.then(() => this.syncListening());
    return this.listening;
  }

  /** True while the listening socket is open. */
  get isListening(): boolean {
    return this.server?.listening ?? false;
  }

  private async syncListening(): Promise<void> {
    const server = this.server;
    if (!server || !this.bound || this.closing) return;
    if (this.relistenTimer) clearTimeout(this.relistenTimer);
    this.relistenTimer = undefined;
    if (!this.wantListening && server.listening) {
      // Stops listening at once; not awaited: the callback waits for connections still closing.
      server.close();
      this.logger.info(`stream port ${this.bound.port} closed (not streaming now)`);
    } else if (this.wantListening && !server.listening) {
      const { host, port } = this.bound;
      try {
        await new Promise<void>((resolve, reject) => {
          const onError = (err: Error): void => reject(err);
          server.once('error', onError);
          server.listen({ host, port }, () => {
            server.off('error', onError);
            resolve();
          });
        });
        this.logger.info(`stream listening on tcp://${formatHostForUrl(host)}:${port} again`);
      } catch (err) {
        this.logger.error(`cannot listen on port ${port} again: ${(err as Error).message}; retrying in 1 s`);
        this.relistenTimer = setTimeout(() => void this.setListening(this.wantListening), 1000);
        this.relistenTimer.unref();
      }
    }
  }

  /** The bound address; undefined before start(). */
  get address(): { host: string; port: number } | undefined {
    return this.bound;
  }

  /** Number of connected clients. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Stops listening and disconnects every client. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const server = this.server;
      if (this.sweepTimer) clearInterval(this.sweepTimer);
      if (this.relistenTimer) clearTimeout(this.relistenTimer);
      await this.listening;
      for (const client of [...this.clients.values()]) this.drop(client, 'server closing', true);
      if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    })();
    return this.closing;
  }

  /** Per-client and server-wide figures (a fresh object). */
  stats(): TcpServerStats {
    const now = this.clock();
    return {
      clients: [...this.clients.values()].map((c) => {
        const r = c.reader.stats;
        return {
          id: c.id,
          remote: c.remote,
          connectedMs: now - c.connectedAtMs,
          framesSent: c.framesSent,
          bytesSent: c.bytesSent,
          framesDropped: r.framesDropped,
          dropEvents: r.dropEvents,
          queuedFrames: r.queuedFrames,
          queuedBytes: r.queuedBytes,
          socketBufferedBytes: c.socket.writableLength,
          lagMs: r.lagMs,
          behindMs: c.slot?.behindMs(now) ?? 0,
        };
      }),
      accepted: this.accepted,
      refused: this.refused,
      stalledDisconnects: this.stalledDisconnects,
      slots: this.slots.stats(),
      serverLatency: this.latency.summary(),
    };
  }

  private accept(socket: Socket): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    const early: [SlotRefusalReason, string] | undefined = this.closing
      ? ['closing', 'closing']
      : !this.accepting
        ? ['not-streaming', 'not streaming now']
        : this.allowList && !this.allowList.allows(socket.remoteAddress)
          ? ['not-allowed', 'address not in allowNetworks']
          : undefined;
    if (early) this.slots.noteRefused(early[0]);
    const admission = early ? undefined : this.slots.admit(socket.remoteAddress);
    const refusal = early ? early[1] : admission && !admission.ok ? admission.message : undefined;
    if (refusal !== undefined) {
      this.refused++;
      this.logger.warn(`refused ${remote}: ${refusal}`);
      // Polite refusal: FIN, not RST; then make sure the socket goes away.
      socket.on('error', () => {
        // a refused peer's reset needs no report: the refusal was logged above
      });
      socket.end();
      socket.setTimeout(2000, () => socket.destroy());
      return;
    }
    if (admission?.ok && admission.evict) {
      const victim = admission.evict.client;
      this.drop(
        victim,
        `gave way to ${remote}: behind for ${Math.round(admission.evict.behindMs())} ms of the last ${this.slots.stats().windowMs / 1000} s with all ${this.maxClients} slots taken`,
        false,
      );
    }
    this.accepted++;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, this.keepAliveMs);
    const reader = this.hub.addReader({
      name: `tcp ${remote}`,
      join: this.join,
      softLimitBytes: this.softLimitBytes,
      softLimitMs: this.softLimitMs,
      hardLimitMs: this.hardLimitMs,
    });
    const client: Client = {
      id: this.accepted,
      socket,
      reader,
      remote,
      connectedAtMs: this.clock(),
      framesSent: 0,
      bytesSent: 0,
      waitingForDrain: false,
      closed: false,
      firstLiveSeq: this.hub.stats().frames,
    };
    const slot = this.slots.add(socket.remoteAddress, client);
    client.slot = slot;
    reader.onBehindChange((behind) => slot.setBehind(behind));
    this.clients.set(client.id, client);
    this.logger.info(`client ${client.id} connected from ${remote} (${this.clients.size} connected)`);
    queueMicrotask(() => this.emit('client-connected', client.id, remote));
    reader.onReadable(() => this.pump(client));
    reader.onStalled(() => {
      this.stalledDisconnects++;
      this.drop(client, `no progress for ${this.hardLimitMs ?? 10_000} ms past the backlog limit`, false);
    });
    socket.on('drain', () => {
      client.waitingForDrain = false;
      this.pump(client);
    });
    // Clients have nothing to say on this port; read and discard so their sends never block.
    socket.on('data', () => undefined);
    socket.on('error', (err) => this.logger.debug(`client ${client.id} ${remote}: ${err.message}`));
    socket.on('close', () => this.drop(client, 'disconnected', false));
    this.pump(client);
  }

  /** Moves frames from the reader's queue into the socket while its buffer is small. */
  private pump(client: Client): void {
    if (client.closed || client.waitingForDrain) return;
    const socket = client.socket;
    // Never below the socket's high-water mark, or 'drain' (which follows a false write()) would never come.
    const limit = Math.max(this.socketBufferBytes, socket.writableHighWaterMark);
    // One clock read per pump, not per frame: the frames of one pump are written within microseconds.
    let now = -1;
    while (socket.writableLength < limit) {
      const frame = client.reader.read();
      if (!frame) return;
      const ok = socket.write(frame.annexB);
      if (frame.seq >= client.firstLiveSeq) {
        if (now < 0) now = this.clock();
        this.latency.add(now - frame.deliveredAtMono);
      }
      client.framesSent++;
      client.bytesSent += frame.annexB.length;
      if (!ok) break;
    }
    client.waitingForDrain = true;
  }

  private drop(client: Client, why: string, quiet: boolean): void {
    if (client.closed) return;
    client.closed = true;
    this.clients.delete(client.id);
    client.slot?.release();
    client.reader.close();
    if (!client.socket.destroyed) client.socket.destroy();
    const msg = `client ${client.id} ${client.remote} ${why}: ${client.framesSent} frames, ${client.bytesSent} bytes sent, ${client.reader.stats.framesDropped} dropped`;
    if (quiet) this.logger.debug(msg);
    else this.logger.info(msg);
    queueMicrotask(() => this.emit('client-disconnected', client.id, client.remote, why));
  }

  /** Drops the clients that were behind too long in the window. */
  private sweep(): void {
    for (const slot of this.slots.sweep()) {
      const behindMs = Math.round(slot.behindMs());
      this.drop(
        slot.client,
        `behind the stream for ${behindMs} ms of the last ${this.slots.stats().windowMs / 1000} s`,
        false,
      );
    }
  }

  /** Disconnects every current client (e.g. when exclusive mode switches to recording). */
  disconnectAll(reason: string): void {
    for (const client of [...this.clients.values()]) this.drop(client, reason, false);
  }
}
