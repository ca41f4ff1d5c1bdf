/**
 * Helpers for the web tests and the latency benchmark: building the web app
 * when dist/web is missing, launching Debian's headless Chromium with the
 * settings from the platform notes (never a downloaded browser), and an
 * in-process live server (StreamHub + web mount on 127.0.0.1:0) fed with
 * access units like a camera.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { createWebMount, type WebMountHandle } from '../../src/api/web-mount.js';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { StreamHub, type StreamHubOptions } from '../../src/hub/stream-hub.js';
import { repoRoot } from '../support/paths.js';
import { requireTool } from '../support/tools.js';

/** Builds dist/web with scripts/build-web.mjs unless it is there already. */
export function ensureWebBuilt(): void {
  if (existsSync(join(repoRoot, 'dist', 'web', 'assets', 'app.js'))) return;
  const r = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'build-web.mjs')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('scripts/build-web.mjs failed');
}

/**
 * Where a test saves a README screenshot: docs/screenshots/NAME when
 * REARVIEW_UPDATE_SCREENSHOTS=1, else undefined (page.screenshot() then only
 * returns the image), so a normal test run never writes files.
 */
export function screenshotPath(name: string): string | undefined {
  if (process.env.REARVIEW_UPDATE_SCREENSHOTS !== '1') return undefined;
  const dir = join(repoRoot, 'docs', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

/** Launch arguments for headless Chromium on a build box (platform notes). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Keep timers and rendering running in a headless page nobody looks at.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
  '--autoplay-policy=no-user-gesture-required',
];

/** Launches /usr/bin/chromium headless. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = requireTool('chromium');
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

/** An in-process live server: hub + page + WebSocket stream on an HTTP port. */
export interface LiveServer {
  hub: StreamHub;
  mount: WebMountHandle;
  server: Server;
  port: number;
  /** http://127.0.0.1:port/ */
  url: string;
  close(): Promise<void>;
}

/** Starts a live server on 127.0.0.1:0; `extra` answers requests the mount does not. */
export async function startLiveServer(
  extra?: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void,
  listen: { host?: string; port?: number } = {},
  hubOptions: StreamHubOptions = {},
): Promise<LiveServer> {
  ensureWebBuilt();
  const hub = new StreamHub(hubOptions);
  const mount = createWebMount({ hub, cameraName: 'test camera' });
  const server = createServer((req, res) => {
    void mount.handleRequest(req, res).then((handled) => {
      if (handled) return;
      if (extra) extra(req, res);
      else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":{"code":"ERR_NOT_FOUND","message":"not found"}}');
      }
    });
  });
  mount.attach(server);
  const host = listen.host ?? '127.0.0.1';
  server.listen(listen.port ?? 0, host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  let closed = false;
  return {
    hub,
    mount,
    server,
    port,
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}/`,
    async close() {
      if (closed) return;
      closed = true;
      await mount.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await hub.close();
    },
  };
}

/**
 * Plays access units into a hub in real time, like a camera: at `fps`,
 * looping, capture time = Date.now() at delivery. Uses a drift-free
 * schedule so a late timer does not slow the stream down.
 */
export class RealtimeFeeder {
  private timer: NodeJS.Timeout | undefined;
  private index = 0;
  private startedAt = 0;
  /** Access units delivered so far. */
  delivered = 0;

  constructor(
    private readonly hub: StreamHub,
    private readonly aus: AccessUnit[],
    private readonly fps = 30,
    /** Deliver every `every`-th frame `ms` late (a camera whose frame came late; the next ones are on time). */
    private readonly late?: { every: number; ms: number },
  ) {}

  start(): this {
    this.startedAt = performance.now();
    const tick = (): void => {
      const now = performance.now();
      const due = Math.floor(((now - this.startedAt) * this.fps) / 1000) + 1;
      while (this.delivered < due) {
        if (this.late && (this.delivered + 1) % this.late.every === 0) {
          const lateAt = this.startedAt + (this.delivered * 1000) / this.fps + this.late.ms;
          if (now < lateAt) {
            this.timer = setTimeout(tick, lateAt - now);
            return;
          }
        }
        const au = this.aus[this.index] as AccessUnit;
        this.index = (this.index + 1) % this.aus.length;
        this.hub.accessUnit(au, Date.now());
        this.delivered++;
      }
      const next = this.startedAt + (this.delivered * 1000) / this.fps;
      this.timer = setTimeout(tick, Math.max(0, next - performance.now()));
    };
    tick();
    return this;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
