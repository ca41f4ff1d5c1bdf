/**
 * Everything the web app needs on the API server, in one object the HTTP
 * API mounts (its `WebMount`): the page and assets (`handleRequest`) and the
 * live WebSocket stream on `/api/v1/live` (`attach`), plus the per-client
 * figures for /api/v1/status.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { JoinPolicy, RearviewConfig } from '../config.js';
import type { Logger } from '../log/logger.js';
import { type WebRtcHub, WebRtcOutput, type WebRtcOutputOptions } from '../outputs/webrtc-output.js';
import { WsStreamServer } from '../outputs/ws-stream-server.js';
import type { AllowList } from './network-allow-list.js';
import { isCrossSiteRequest, isTrustedHost, requestToken, tokenMatches } from './request-guard.js';
import type { TokenAttemptLimiter } from './token-attempt-limiter.js';
import { createWebAssetsHandler, wantsHtml, type WebAssetsHandler } from './static-assets.js';

/** Path of the live WebSocket stream on the API port. */
export const LIVE_WS_PATH = '/api/v1/live';

/** Options of {@link createWebMount}. */
export interface WebMountOptions {
  /** The stream hub (its params tell WebRTC viewers the profile). */
  hub: WebRtcHub;
  logger?: Logger;
  /** Folder of the built app (default dist/web). */
  root?: string;
  /** Stand-alone live viewer without gallery/status (`rearview view`). Default false. */
  viewerOnly?: boolean;
  /** Passed to WsStreamServer (join policy, slow-reader limits, slot rules, camera name). */
  join?: JoinPolicy;
  softLimitBytes?: number;
  softLimitMs?: number;
  hardLimitMs?: number;
  maxClients?: number;
  maxClientsPerAddress?: number;
  behindLimitMs?: number;
  /** Monotonic clock of the slot rules, ms (the daemon's clock). */
  clock?: () => number;
  /** Wall clock of the clock pongs and config messages, ms since the epoch (the daemon's camera clock). Default Date.now. */
  wallNow?: () => number;
  cameraName?: string;
  /** When set, the live stream needs it (the pairing cookie or `Authorization: Bearer`), as every API endpoint does. */
  apiToken?: string | undefined;
  /** Wrong-token counter shared with the API server: a blocked address is refused here too (429). */
  tokenAttempts?: TokenAttemptLimiter | undefined;
  /** The daemon's compiled allowNetworks: only these client networks may open the live stream. Default: everyone. */
  allowList?: Pick<AllowList, 'allows'>;
  /** WebRTC viewers: off unless given with maxViewers > 0. */
  webrtc?: Omit<WebRtcOutputOptions, 'hub' | 'logger'>;
}

/**
 * The upgrade check: network allow-list, token, and no cross-site pages (a
 * browser always sends Origin on a WebSocket; another site's page must not
 * be able to watch the camera through a visitor's browser). On the camera
 * (not `rearview view`, a local viewer) without a token, the Host must also
 * be one DNS rebinding cannot produce (isTrustedHost).
 */
export function liveStreamGuard(
  options: Pick<WebMountOptions, 'apiToken' | 'allowList' | 'cameraName' | 'viewerOnly' | 'tokenAttempts'>,
): (req: IncomingMessage) => { status: number; reason: string } | undefined {
  return (req) => {
    if (options.allowList && !options.allowList.allows(req.socket.remoteAddress))
      return { status: 403, reason: 'Forbidden' };
    if (options.apiToken) {
      // Never from the URL (`?token=` is ignored): the pairing cookie or a Bearer header.
      const presented = requestToken(req);
      const address = req.socket.remoteAddress;
      if (presented !== undefined && (options.tokenAttempts?.retryAfterMs(address) ?? 0) > 0)
        return { status: 429, reason: 'Too Many Requests' };
      if (!tokenMatches(presented, options.apiToken)) {
        if (presented !== undefined) options.tokenAttempts?.failed(address);
        return { status: 401, reason: 'Unauthorized' };
      }
    }
    if (isCrossSiteRequest(req)) return { status: 403, reason: 'Forbidden' };
    // Without a token, a DNS-rebound page is same-origin: refuse a Host that is not the camera's.
    if (!options.viewerOnly && !options.apiToken && !isTrustedHost(req, options.cameraName))
      return { status: 403, reason: 'Forbidden' };
    return undefined;
  };
}

/** One WebSocket client in the shape of the API's StreamClientStatus. */
export interface WebStreamClientStatus {
  kind: 'ws';
  remote: string;
  connectedMs: number;
  lagMs: number;
  framesDropped: number;
  bytesSent: number;
  behindMs: number;
}

/** The mounted web app. */
export interface WebMountHandle {
  /** Serves `/` (only when the browser asks for HTML) and `/assets/*`; false for anything else. */
  handleRequest(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** Listens for WebSocket upgrades on {@link LIVE_WS_PATH}. */
  attach(server: Server): void;
  /** The stream server (for tests and custom upgrade routing). */
  readonly ws: WsStreamServer;
  /** WebRTC viewers (WHEP on /api/v1/whep); undefined when turned off (`webrtcMaxViewers` 0). */
  readonly webrtc: WebRtcOutput | undefined;
  /** The live view's access check (WebSocket upgrades and WHEP offers): undefined when allowed. */
  authorize(req: IncomingMessage): { status: number; reason: string } | undefined;
  /** Connected WebSocket clients, for /api/v1/status. */
  streamClients(): WebStreamClientStatus[];
  /** Disconnects every client. Idempotent. */
  close(): Promise<void>;
}

/** Builds the web mount; see {@link WebMountHandle}. */
export function createWebMount(options: WebMountOptions): WebMountHandle {
  const assets: WebAssetsHandler = createWebAssetsHandler({
    ...(options.root !== undefined ? { root: options.root } : {}),
    viewerOnly: options.viewerOnly ?? false,
  });
  const authorize = liveStreamGuard(options);
  const ws = new WsStreamServer({
    hub: options.hub,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.join ? { join: options.join } : {}),
    ...(options.softLimitBytes !== undefined ? { softLimitBytes: options.softLimitBytes } : {}),
    ...(options.softLimitMs !== undefined ? { softLimitMs: options.softLimitMs } : {}),
    ...(options.hardLimitMs !== undefined ? { hardLimitMs: options.hardLimitMs } : {}),
    ...(options.maxClients !== undefined ? { maxClients: options.maxClients } : {}),
    ...(options.maxClientsPerAddress !== undefined ? { maxClientsPerAddress: options.maxClientsPerAddress } : {}),
    ...(options.behindLimitMs !== undefined ? { behindLimitMs: options.behindLimitMs } : {}),
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
    ...(options.wallNow !== undefined ? { now: options.wallNow } : {}),
    ...(options.cameraName !== undefined ? { cameraName: options.cameraName } : {}),
    authorize,
  });
  const webrtc =
    options.webrtc && options.webrtc.maxViewers > 0
      ? new WebRtcOutput({
          hub: options.hub,
          ...options.webrtc,
          ...(options.logger ? { logger: options.logger.child('webrtc') } : {}),
        })
      : undefined;
  return {
    ws,
    webrtc,
    authorize,
    async handleRequest(req, res) {
      const pathname = (req.url ?? '/').split('?')[0];
      // `curl /` keeps the device's greeting: only a browser gets the page.
      if ((pathname === '/' || pathname === '/index.html') && !wantsHtml(req)) return false;
      return assets(req, res);
    },
    attach(server) {
      ws.attach(server, LIVE_WS_PATH);
    },
    streamClients() {
      return ws.clients().map((c) => {
        const hub = (c.hub ?? {}) as { lagMs?: number; framesDropped?: number };
        return {
          kind: 'ws' as const,
          remote: c.remote,
          connectedMs: c.connectedMs,
          lagMs: hub.lagMs ?? 0,
          framesDropped: hub.framesDropped ?? 0,
          bytesSent: c.bytesSent,
          behindMs: Math.round(c.behindMs),
        };
      });
    },
    async close() {
      await webrtc?.close();
      await ws.close();
    },
  };
}

/**
 * The web mount as the daemon configures it: slow-reader limits, join
 * policy, slot rules, camera name and token from the config, and the
 * daemon's compiled allow-list and clock. Pass the result as the API
 * server's `web` option and close it after the API server.
 */
export function webMountFromConfig(
  hub: WebRtcHub,
  config: RearviewConfig,
  daemon: {
    allowList: Pick<AllowList, 'allows'>;
    clock?: () => number;
    wallNow?: () => number;
    logger?: Logger;
    tokenAttempts?: TokenAttemptLimiter;
  },
): WebMountHandle {
  const logger = daemon.logger;
  return createWebMount({
    hub,
    ...(logger ? { logger: logger.child('web') } : {}),
    join: config.join,
    softLimitBytes: config.clientSoftLimitBytes,
    softLimitMs: config.clientSoftLimitMs,
    hardLimitMs: config.clientHardLimitMs,
    maxClients: config.maxClients,
    maxClientsPerAddress: config.maxClientsPerAddress,
    behindLimitMs: config.clientBehindLimitMs,
    ...(daemon.clock ? { clock: daemon.clock } : {}),
    ...(daemon.wallNow ? { wallNow: daemon.wallNow } : {}),
    cameraName: config.cameraName,
    apiToken: config.apiToken,
    tokenAttempts: daemon.tokenAttempts,
    allowList: daemon.allowList,
    webrtc: {
      maxViewers: config.webrtcMaxViewers,
      maxViewersPerAddress: Math.min(config.maxClientsPerAddress, config.webrtcMaxViewers),
      // The slow-viewer rule of the other outputs: lag past the soft limit skips to keyframes; behind this long is ended.
      softLimitMs: config.clientSoftLimitMs,
      behindLimitMs: config.clientBehindLimitMs,
      ...(daemon.clock ? { clock: daemon.clock } : {}),
      // ICE binds only where the servers do.
      ...(config.bind !== '0.0.0.0' && config.bind !== '::' ? { bindAddress: config.bind } : {}),
      ...(config.webrtcPortMin > 0 ? { portRange: [config.webrtcPortMin, config.webrtcPortMax] as const } : {}),
      iceServers: config.webrtcIceServers,
    },
  });
}
