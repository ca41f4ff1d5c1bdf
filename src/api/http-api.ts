/**
 * The HTTP server on port 8000: the device's legacy API, `/api/v1`, `/metrics`,
 * Server-Sent Events, and the web engineer's page/assets and WebSocket mounted
 * on the same server.
 *
 * Order of checks for every request: client network allow-list (the socket is
 * dropped at connect), route lookup, API token unless the route is public
 * (401; 429 while an address is blocked for wrong tokens), cross-site check
 * for destructive routes (403), without a token the Host check and, for
 * destructive routes, the trusted networks (403), handler. `GET /` content negotiation: a request
 * whose Accept header includes text/html (a browser navigating there) gets
 * the web page; curl and the app (Accept: star/star or none) get the greeting.
 * Paths no route knows are offered to the web handler (assets), then answered
 * with the legacy `Unknown GET request` 501.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { RearviewConfig } from '../config.js';
import type { CameraDevice } from '../device/camera-device.js';
import { ConfigError, RearviewError } from '../errors.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { ModeController } from '../modes/mode-controller.js';
import type { ApiClock, ApiContext } from './api-context.js';
import { CameraClock } from '../util/camera-clock.js';
import { ApiEvents } from './api-events.js';
import { ApiError, sendJsonError, sendText, statusOf } from './api-responses.js';
import { ApiRouter } from './api-router.js';
import type {
  ClipsApi,
  MomentsApi,
  Mp4SourceOpener,
  Mp4Streamer,
  RecordingStore,
  StreamStatus,
  WebMount,
} from './api-services.js';
import { cachedRecordingStore } from './cached-recording-store.js';
import { DownloadLimiter } from './file-responses.js';
import { addLegacyRoutes } from './legacy-routes.js';
import { compileAllowList, type AllowList } from './network-allow-list.js';
import { addPairingRoutes, checkPresentedToken } from './pairing-routes.js';
import { isCrossSiteRequest, isTrustedHost, requestToken } from './request-guard.js';
import { isWebAppRequest } from './static-assets.js';
import type { SettingsStore } from './settings-store.js';
import { buildStatus } from './status-document.js';
import { TokenAttemptLimiter } from './token-attempt-limiter.js';
import { addV1Routes, recordingView } from './v1-routes.js';
import { addWhepRoutes } from './whep-routes.js';
import { addMomentRoutes, markMoment } from './moment-routes.js';
import { addRideRoutes } from './ride-routes.js';
import { EventLoopDelayMonitor } from '../util/event-loop-delay.js';

/** Options of ApiServer. */
export interface ApiServerOptions {
  /** Current config (apiPort, bind, apiToken, cameraName, ... are read from it). */
  config: () => RearviewConfig;
  /** The daemon's compiled allowNetworks: connections from elsewhere are dropped at connect. */
  allowList: Pick<AllowList, 'allows'>;
  recordings: RecordingStore;
  /** MP4 conversion; without it the MP4 endpoints answer 503 ERR_CONVERT. */
  mp4?: Mp4Streamer | undefined;
  /** The MP4 conversion of a segment as bytes (ride playlist parts). */
  mp4Source?: Mp4SourceOpener | undefined;
  /** Moments and clips; without them their endpoints answer 503 ERR_NOT_RECORDING. */
  moments?: MomentsApi | undefined;
  clips?: ClipsApi | undefined;
  device: CameraDevice;
  modes: ModeController;
  stream: () => StreamStatus;
  settings: SettingsStore;
  /** The web page, its assets and the WebSocket live stream. */
  web?: WebMount | undefined;
  logger?: Logger;
  /** Reported in status. Default '0.0.0'. */
  version?: string;
  /** Process start for uptime, ms since the epoch. Default: now. */
  startedAtMs?: number;
  now?: () => number;
  /** The camera's clock (status, `POST /api/v1/clock`). Default: a CameraClock over the system clock (never probed). */
  clock?: ApiClock;
  /** Most downloads at once; 429 beyond. Default 4. */
  maxConcurrentDownloads?: number;
  /** A download with no progress for this long is dropped, ms. Default 30000. */
  downloadIdleTimeoutMs?: number;
  /** How long a recordings listing is reused by concurrent and back-to-back requests, ms (0: never). Default 1000. */
  listCacheMs?: number;
  /** How often SSE clients get a status event, ms. Default 2000. */
  statusIntervalMs?: number;
  /** How often the recordings list is compared for added/removed events, ms. Default 5000. */
  recordingsPollMs?: number;
  /** Wrong-token counter, shared with the live WebSocket's check. Default: a new one. */
  tokenAttempts?: TokenAttemptLimiter;
}

/** The API server. start(port?, host?) / idempotent close(). */
export class ApiServer {
  readonly server: Server;
  readonly router = new ApiRouter();
  readonly events = new ApiEvents();
  private readonly ctx: ApiContext;
  private readonly logger: Logger;
  private readonly allowList: Pick<AllowList, 'allows'>;
  private readonly trustedNetworks: AllowList;
  private readonly tokenAttempts: TokenAttemptLimiter;
  private readonly sockets = new Set<Socket>();
  private timers: NodeJS.Timeout[] = [];
  private unsubscribeMode: (() => void) | undefined;
  private unsubscribeButton: (() => void) | undefined;
  private knownRecordings: Set<string> | undefined;
  private closed = false;

  constructor(private readonly options: ApiServerOptions) {
    this.logger = options.logger ?? silentLogger;
    const now = options.now ?? Date.now;
    this.allowList = options.allowList;
    this.trustedNetworks = compileTrustedNetworks(options.config().trustedNetworks);
    this.tokenAttempts = options.tokenAttempts ?? new TokenAttemptLimiter({ now });
    this.ctx = {
      config: options.config,
      logger: this.logger,
      recordings:
        options.listCacheMs === 0
          ? options.recordings
          : cachedRecordingStore(options.recordings, { listTtlMs: options.listCacheMs ?? 1000 }),
      mp4: options.mp4,
      mp4Source: options.mp4Source,
      moments: options.moments,
      clips: options.clips,
      captureNow: () => this.ctx.clock.wallNow(),
      device: options.device,
      modes: options.modes,
      stream: options.stream,
      settings: options.settings,
      events: this.events,
      downloads: new DownloadLimiter(options.maxConcurrentDownloads ?? 4),
      downloadIdleTimeoutMs: options.downloadIdleTimeoutMs ?? 30_000,
      version: options.version ?? '0.0.0',
      startedAtMs: options.startedAtMs ?? now(),
      now,
      clock: options.clock ?? new CameraClock(),
      requestCounts: new Map(),
      web: options.web,
      eventLoopDelay: new EventLoopDelayMonitor(),
    };
    addLegacyRoutes(this.router, this.ctx);
    addV1Routes(this.router, this.ctx);
    addPairingRoutes(this.router, this.ctx, this.tokenAttempts);
    addWhepRoutes(this.router, this.ctx);
    addMomentRoutes(this.router, this.ctx);
    addRideRoutes(this.router, this.ctx);
    this.server = createServer((req, res) => void this.handle(req, res));
    // Bound slow or idle clients: headers within 10 s, keep-alive 5 s.
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 60_000;
    this.server.keepAliveTimeout = 5_000;
    this.server.on('connection', (socket: Socket) => {
      if (!this.allowList.allows(socket.remoteAddress)) {
        this.logger.warn(`refused ${socket.remoteAddress ?? '?'}: not in allowNetworks`);
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    options.web?.attach?.(this.server);
  }

  /** The download limiter (for status and tests). */
  get downloads(): DownloadLimiter {
    return this.ctx.downloads;
  }

  /** The bound port (after start). */
  get port(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? 0;
  }

  /**
   * Listens on `port` (default config.apiPort; 0 = a free port) and `host`
   * (default config.bind); resolves to the bound port.
   */
  async start(port = this.options.config().apiPort, host = this.options.config().bind): Promise<number> {
    if (this.server.listening) return this.port;
    if (this.closed) throw new Error('ApiServer: start() after close()');
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.unsubscribeMode = this.options.modes.onChange((state) => {
      this.events.publish('mode', state);
      void this.publishStatus();
    });
    // Button presses go to the feed for features built on them (a short press: marking a moment).
    this.unsubscribeButton = this.options.device.onButton((press) => {
      this.events.publish('button', { ...press, atMs: this.ctx.now() });
      // A short press marks a moment (a long one shuts the camera down).
      if (press.press === 'short' && this.ctx.moments)
        markMoment(this.ctx, 'button').catch((err: Error) =>
          this.logger.warn(`button: moment not kept: ${err.message}`),
        );
    });
    const statusTimer = setInterval(() => {
      if (this.events.clientCount > 0) void this.publishStatus();
    }, this.options.statusIntervalMs ?? 2000);
    const pollTimer = setInterval(() => void this.pollRecordings(), this.options.recordingsPollMs ?? 5000);
    statusTimer.unref();
    pollTimer.unref();
    this.ctx.eventLoopDelay.start();
    this.timers.push(statusTimer, pollTimer);
    return this.port;
  }

  /** Stops listening and drops every connection (downloads, event feeds). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.ctx.eventLoopDelay.stop();
    this.unsubscribeMode?.();
    this.unsubscribeButton?.();
    this.events.close();
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    if (!this.server.listening) return;
    await done;
  }

  /** Sends a `status` event now (on changes that should not wait for the next periodic one). */
  async publishStatus(): Promise<void> {
    try {
      this.events.publish('status', await buildStatus(this.ctx));
    } catch (err) {
      this.logger.debug(`status event failed: ${(err as Error).message}`);
    }
  }

  /** Compares the recordings list with the last one: recording-added / recording-removed events. */
  private async pollRecordings(): Promise<void> {
    if (this.events.clientCount === 0) {
      this.knownRecordings = undefined;
      return;
    }
    try {
      const list = await this.ctx.recordings.list();
      const names = new Set(list.map((r) => r.name));
      if (this.knownRecordings) {
        for (const r of list)
          if (!this.knownRecordings.has(r.name)) this.events.publish('recording-added', recordingView(r));
        for (const n of this.knownRecordings) if (!names.has(n)) this.events.publish('recording-removed', { name: n });
      }
      this.knownRecordings = names;
    } catch (err) {
      this.logger.debug(`recordings poll failed: ${(err as Error).message}`);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q >= 0 ? url.slice(0, q) : url;
    const rawQuery = q >= 0 ? url.slice(q + 1) : '';
    const method = req.method ?? 'GET';
    const jsonErrors = pathname.startsWith('/api/') || pathname === '/metrics';
    let routeKey = 'unmatched';
    res.on('finish', () => {
      const key = `${routeKey} ${res.statusCode}`;
      this.ctx.requestCounts.set(key, (this.ctx.requestCounts.get(key) ?? 0) + 1);
    });
    try {
      if (!this.allowList.allows(req.socket.remoteAddress))
        throw new ApiError('ERR_API_FORBIDDEN', 'client network not allowed');
      // The page and its assets are public build output (no secrets), so they
      // load without the token; the page then pairs (docs/web.md).
      if (this.options.web?.handleRequest && isWebAppRequest(req, pathname)) {
        routeKey = 'web';
        if (await this.options.web.handleRequest(req, res)) return;
      }
      const token = this.options.config().apiToken;
      const match = this.router.match(method, pathname);
      if (token !== undefined && !(match.kind === 'found' && match.route.public)) {
        checkPresentedToken(requestToken(req), token, req.socket.remoteAddress, this.tokenAttempts);
      }
      if (match.kind === 'bad-path') throw new ApiError('ERR_PATH_OUTSIDE', 'invalid name');
      if (match.kind === 'none') {
        if (
          this.options.web?.handleRequest &&
          (method === 'GET' || method === 'HEAD') &&
          !pathname.startsWith('/api/')
        ) {
          routeKey = 'web';
          if (await this.options.web.handleRequest(req, res)) return;
        }
        routeKey = 'unmatched';
        if (jsonErrors && match.allowed.length > 0) {
          throw new ApiError(
            'ERR_API_METHOD',
            `${method} is not allowed on ${pathname} (allowed: ${match.allowed.join(', ')})`,
          );
        }
        if (jsonErrors) throw new ApiError('ERR_NOT_FOUND', `no such endpoint: ${method} ${pathname}`);
        sendText(res, 501, `Unknown ${method} request`);
        return;
      }
      routeKey = match.route.path;
      if (match.route.destructive && isCrossSiteRequest(req)) {
        throw new ApiError('ERR_API_CROSS_SITE', 'Cross-site request refused');
      }
      // DNS rebinding makes another site's page same-origin, able to read recordings as well as
      // wipe them; its Host header still names that site. Every route, not only destructive ones.
      if (token === undefined && !isTrustedHost(req, this.options.config().cameraName)) {
        throw new ApiError(
          'ERR_API_CROSS_SITE',
          'Host not recognised as this camera (use its IP address, a .local name or localhost)',
        );
      }
      // Without a token anyone who can reach the port could wipe or reconfigure the camera:
      // only loopback and the camera's own hotspot (trustedNetworks) may change state.
      if (token === undefined && match.route.destructive && !this.trustedNetworks.allows(req.socket.remoteAddress)) {
        throw new ApiError(
          'ERR_API_UNTRUSTED_NETWORK',
          'state-changing requests need an API token, or a client on a trusted network (--trusted-networks)',
        );
      }
      await match.route.handler({
        req,
        res,
        method,
        pathname,
        rawQuery,
        query: new URLSearchParams(rawQuery),
        params: match.params,
      });
    } catch (err) {
      this.answerError(res, err, jsonErrors, pathname);
    }
  }

  private answerError(res: ServerResponse, err: unknown, json: boolean, pathname: string): void {
    // A client that went away mid-request (an aborted upload, a closed tab) is expected, not a fault:
    // one debug line, no answer (nobody is there to read it), no stack trace.
    if (clientWentAway(res, err)) {
      this.logger.debug(`${pathname}: request aborted by the client (${(err as Error).message})`);
      res.destroy();
      return;
    }
    const status = statusOf(err);
    // A stack only for the unexpected (a bug): a known condition (read-only disk, ...) is said in words.
    if (status >= 500 && err instanceof RearviewError && err.code !== 'ERR_INTERNAL')
      this.logger.error(`${pathname}: ${err.code}: ${err.message}`);
    else if (status >= 500)
      this.logger.error(`${pathname}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    else this.logger.debug(`${pathname}: ${status} ${(err as Error).message}`);
    if (res.headersSent) {
      // Mid-stream failure: the only honest signal left is a cut connection.
      res.destroy();
      return;
    }
    const extra: Record<string, string> = status === 401 ? { 'www-authenticate': 'Bearer' } : {};
    if (err instanceof ApiError && err.code === 'ERR_API_TOO_MANY_ATTEMPTS') {
      const m = /in (\d+) s/.exec(err.message);
      if (m?.[1]) extra['retry-after'] = m[1];
    }
    if (err instanceof ApiError && err.code === 'ERR_API_METHOD') {
      const m = /allowed: ([^)]*)/.exec(err.message);
      if (m?.[1]) extra.allow = m[1];
    }
    if (json) {
      sendJsonError(res, err, extra);
      return;
    }
    sendText(res, status, legacyMessage(err, status), extra);
  }
}

/** Error codes of a connection the client closed or reset. */
// ERR_ABORTED: a clip export or conversion the client's leaving cancelled (moment-routes.ts, convert-pool.ts).
const CLIENT_GONE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_ABORTED']);

/** True when `err` comes from the client closing the connection (or the connection is gone with the request unread). */
function clientWentAway(res: ServerResponse, err: unknown): boolean {
  // Our own refusal (a body over its cap, ...) is answered even when we stopped reading the request.
  if (err instanceof ApiError) return false;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && CLIENT_GONE_CODES.has(code)) return true;
  if ((err as { name?: unknown } | null)?.name === 'AbortError') return true;
  const req = res.req as IncomingMessage | undefined;
  return req?.destroyed === true && !req.complete;
}

/**
 * The trusted networks as an allow-list. An empty list would allow everyone
 * (compileAllowList's meaning); here it means loopback only.
 */
function compileTrustedNetworks(networks: readonly string[]): AllowList {
  try {
    return compileAllowList(networks.length > 0 ? networks : ['127.0.0.0/8', '::1/128'], 'trustedNetworks');
  } catch (err) {
    throw new ConfigError((err as Error).message.replace(/^allowNetworks/, 'trustedNetworks'));
  }
}

/** Plain-text error bodies of the legacy routes (never a file system path). */
function legacyMessage(err: unknown, status: number): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof RearviewError) {
    if (err.code === 'ERR_PATH_OUTSIDE') return 'Invalid path';
    if (err.code === 'ERR_NOT_FOUND') return 'Not found';
    if (err.code === 'ERR_CONFIG') return err.message;
  }
  return status >= 500 ? 'Internal error' : 'Bad request';
}
