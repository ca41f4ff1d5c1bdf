/**
 * The three browser engines of the live-page tests behind one small
 * interface: Chromium (playwright-core, Chrome DevTools Protocol), Firefox ESR
 * (puppeteer-core over WebDriver BiDi: playwright-core drives only
 * Playwright's own patched Firefox build, which cannot be downloaded here and
 * is not Debian's) and WebKitGTK (classic WebDriver, webkit-webdriver.ts).
 * All are Debian's browsers, never a downloaded one.
 *
 * Pages are opened on the camera's address or on its `.local` name, which
 * this file maps to 127.0.0.1 in /etc/hosts (idempotent): a non-secure
 * origin, as a phone on the camera's Wi-Fi sees it.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { chromium, type Browser as PlaywrightBrowser } from 'playwright-core';
import puppeteer, { type Browser as PuppeteerBrowser } from 'puppeteer-core';
import { requireTool } from '../support/tools.js';
import { CHROMIUM_ARGS } from './web-fixture.js';
import { WebKitSession } from './webkit-webdriver.js';

/** The camera's name on its Wi-Fi (one the daemon's Host check trusts), mapped to 127.0.0.1. */
export const CAMERA_HOST = 'velovision-rearview.local';

/** Firefox ESR from Debian's firefox-esr package. */
export const FIREFOX = '/usr/bin/firefox-esr';

/**
 * Before the page's scripts: what an iPhone on the camera's http:// page has (no
 * WebCodecs, no MediaSource). `keepManaged` keeps ManagedMediaSource (iOS 17.1+ has it).
 */
export function iphoneLikeScript(keepManaged: boolean): string {
  return `(() => { delete window.MediaSource; ${keepManaged ? '' : 'delete window.ManagedMediaSource; '}delete window.VideoDecoder; })();`;
}

/** A page in one engine. */
export interface EnginePage {
  /** The value of a JavaScript expression (JSON-serialisable). */
  evaluate<T>(expression: string): Promise<T>;
  /** PNG of the element matching a CSS selector, as shown on screen. */
  screenshot(selector: string): Promise<Buffer>;
  close(): Promise<void>;
}

/** Options of Engine.open. */
export interface OpenOptions {
  /** JavaScript run before the page's own scripts (iphoneLikeScript, for one). */
  initScript?: string;
}

/** One launched browser. */
export interface Engine {
  readonly name: 'Chromium' | 'Firefox ESR' | 'WebKitGTK';
  /** Browser and version as the browser reports it. */
  readonly version: string;
  open(url: string, options?: OpenOptions): Promise<EnginePage>;
  close(): Promise<void>;
}

/** Adds `127.0.0.1 CAMERA_HOST` to /etc/hosts unless a line maps it already (tests run as root). */
export function mapCameraHost(): void {
  const hosts = existsSync('/etc/hosts') ? readFileSync('/etc/hosts', 'utf8') : '';
  const mapped = hosts
    .split('\n')
    .some((line) => line.split('#')[0]?.trim().split(/\s+/).slice(1).includes(CAMERA_HOST));
  if (mapped) return;
  try {
    appendFileSync('/etc/hosts', `${hosts.endsWith('\n') || hosts === '' ? '' : '\n'}127.0.0.1 ${CAMERA_HOST}\n`);
  } catch (err) {
    throw new Error(
      `cannot map ${CAMERA_HOST} to 127.0.0.1 in /etc/hosts (${(err as Error).message}); add the line by hand`,
      { cause: err },
    );
  }
}

const VIEWPORT = { width: 1024, height: 768 };

/** Debian's Chromium, headless, through playwright-core. */
export async function launchChromiumEngine(): Promise<Engine> {
  const browser: PlaywrightBrowser = await chromium.launch({
    executablePath: requireTool('chromium'),
    headless: true,
    args: [...CHROMIUM_ARGS, `--host-resolver-rules=MAP ${CAMERA_HOST} 127.0.0.1`],
  });
  return {
    name: 'Chromium',
    version: `chromium/${browser.version()}`,
    async open(url, options = {}) {
      // bypassCSP: playwright evaluates strings with eval, which the page's CSP forbids.
      const context = await browser.newContext({ bypassCSP: true, viewport: VIEWPORT });
      if (options.initScript) await context.addInitScript(options.initScript);
      const page = await context.newPage();
      await page.goto(url);
      return {
        evaluate: async <T>(expression: string) => (await page.evaluate(expression)) as T,
        screenshot: (selector) => page.locator(selector).screenshot(),
        close: () => context.close(),
      };
    },
    close: () => browser.close(),
  };
}

/** Debian's Firefox ESR, headless, through puppeteer-core over WebDriver BiDi. */
export async function launchFirefoxEngine(): Promise<Engine> {
  if (!existsSync(FIREFOX))
    throw new Error(`${FIREFOX} is missing (Debian package firefox-esr): run "node scripts/install-test-tools.mjs"`);
  const browser: PuppeteerBrowser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    extraPrefsFirefox: {
      // WebRTC between two processes of this machine: loopback candidates, plain host addresses.
      'media.peerconnection.ice.loopback': true,
      'media.peerconnection.ice.obfuscate_host_addresses': false,
      'media.autoplay.default': 0,
    },
  });
  return {
    name: 'Firefox ESR',
    version: await browser.version(),
    async open(url, options = {}) {
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      await page.setViewport(VIEWPORT);
      if (options.initScript) await page.evaluateOnNewDocument(options.initScript);
      await page.goto(url);
      return {
        evaluate: async <T>(expression: string) => (await page.evaluate(expression)) as T,
        screenshot: async (selector) => {
          const element = await page.$(selector);
          if (!element) throw new Error(`no element ${selector}`);
          return Buffer.from(await element.screenshot({ type: 'png' }));
        },
        close: () => context.close(),
      };
    },
    close: () => browser.close(),
  };
}

/**
 * WebKitGTK's MiniBrowser under Xvfb through WebKitWebDriver. Classic WebDriver
 * runs no script before a page's own, so a page with an init script is loaded through
 * `proxy` (startInitScriptProxy), which puts the script in the page's head.
 */
export async function launchWebKitEngine(proxy: () => Promise<InitScriptProxy>): Promise<Engine> {
  const session = await WebKitSession.start();
  return {
    name: 'WebKitGTK',
    version: `webkitgtk/${String(session.capabilities.browserVersion)}`,
    async open(url, options = {}) {
      let target = url;
      if (options.initScript) {
        const p = await proxy();
        const u = new URL(url);
        u.port = String(p.port);
        p.script = options.initScript;
        target = u.toString();
      }
      await session.goto(target);
      return {
        evaluate: (expression) => session.evaluate(expression),
        screenshot: (selector) => session.screenshot(selector),
        // One window: the next test navigates it away; stop this page's stream now.
        close: () => session.goto('about:blank'),
      };
    },
    close: () => session.close(),
  };
}

/** A reverse proxy to the camera that adds a script before the page's own. */
export interface InitScriptProxy {
  port: number;
  /** The script served at /__init.js and loaded first by every HTML page. */
  script: string;
  close(): Promise<void>;
}

/**
 * Forwards every request and WebSocket upgrade to the camera on 127.0.0.1:cameraPort
 * unchanged (Host and Origin included, so the camera's checks see the page's own
 * origin), except that HTML pages get `<script src="/__init.js">` as the first
 * element of their head. The camera's CSP allows scripts of the page's own origin.
 */
export async function startInitScriptProxy(cameraPort: number): Promise<InitScriptProxy> {
  const state = { script: '' };
  const server: Server = createServer((req, res) => {
    if (req.url === '/__init.js') {
      res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-store' });
      res.end(state.script);
      return;
    }
    const upstream = request(
      { host: '127.0.0.1', port: cameraPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (!(answer.headers['content-type'] ?? '').startsWith('text/html')) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => {
          const html = Buffer.concat(chunks)
            .toString('utf8')
            .replace('<head>', '<head>\n<script src="/__init.js"></script>');
          const headers = { ...answer.headers };
          delete headers['content-length'];
          delete headers.etag;
          res.writeHead(answer.statusCode ?? 200, { ...headers, 'cache-control': 'no-store' });
          res.end(html);
        });
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  // Upgraded connections are no longer the HTTP server's: closed here on close().
  const tunnels = new Set<{ destroy(): void }>();
  server.on('upgrade', (req, socket, head) => {
    const upstream = connect(cameraPort, '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    tunnels.add(socket).add(upstream);
    upstream.on('close', () => tunnels.delete(upstream));
    socket.on('close', () => tunnels.delete(socket));
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    get script() {
      return state.script;
    },
    set script(s: string) {
      state.script = s;
    },
    async close() {
      for (const t of tunnels) t.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
