/**
 * WebKitGTK for the browser tests: an Xvfb display, Debian's WebKitWebDriver
 * (webkit2gtk-driver) and its MiniBrowser in automation mode, driven over
 * classic WebDriver (W3C WebDriver, HTTP + JSON) with plain fetch. WebKitGTK is
 * the nearest stand-in for iPhone Safari that runs on Linux.
 *
 * Classic WebDriver needs a handful of commands here (new session, navigate,
 * execute script, element screenshot, delete session), so no client library.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { waitFor } from '../support/wait.js';

/** Debian's paths (packages webkit2gtk-driver, libwebkit2gtk-4.1-0, xvfb). */
export const WEBKIT_DRIVER = '/usr/bin/WebKitWebDriver';
export const MINIBROWSER = `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/webkit2gtk-4.1/MiniBrowser`;
export const XVFB = '/usr/bin/Xvfb';

/** The W3C name of an element reference in WebDriver answers. */
const ELEMENT_KEY = 'element-6066-11e4-a52e-4f735466cecf';

function requireFile(path: string, pkg: string): void {
  if (!existsSync(path))
    throw new Error(`${path} is missing (Debian package ${pkg}): run "node scripts/install-test-tools.mjs"`);
}

/** A free TCP port on 127.0.0.1 (the driver takes a port number, not 0). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Ends a child process: SIGTERM, SIGKILL after 5 s; resolves when it has exited. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(killer);
}

/** Starts Xvfb on a display it picks itself (-displayfd) and resolves with ":N". */
async function startXvfb(): Promise<{ display: string; process: ChildProcess }> {
  requireFile(XVFB, 'xvfb');
  const child = spawn(XVFB, ['-displayfd', '3', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const fd3 = child.stdio[3] as NodeJS.ReadableStream;
  const display = await new Promise<string>((resolve, reject) => {
    let text = '';
    fd3.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\n')) resolve(`:${text.trim()}`);
    });
    child.once('exit', (code) => reject(new Error(`Xvfb exited (${code}) before giving a display: ${stderr}`)));
  });
  return { display, process: child };
}

/** One MiniBrowser window under automation: a WebDriver session. */
export class WebKitSession {
  private closed = false;

  private constructor(
    private readonly base: string,
    private readonly id: string,
    private readonly driver: ChildProcess,
    private readonly xvfb: ChildProcess,
    /** The session's capabilities (browserVersion: the WebKitGTK version). */
    readonly capabilities: Record<string, unknown>,
  ) {}

  /** Starts Xvfb, WebKitWebDriver and a MiniBrowser session (window 1024x768). */
  static async start(): Promise<WebKitSession> {
    requireFile(WEBKIT_DRIVER, 'webkit2gtk-driver');
    requireFile(MINIBROWSER, 'libwebkit2gtk-4.1-0');
    const xvfb = await startXvfb();
    const port = await freePort();
    const driver = spawn(WEBKIT_DRIVER, [`--port=${port}`], {
      env: { ...process.env, DISPLAY: xvfb.display },
      stdio: 'ignore',
    });
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitFor(
        async () => {
          if (driver.exitCode !== null) throw new Error(`WebKitWebDriver exited (${driver.exitCode})`);
          return fetch(`${base}/status`).then(
            (r) => r.ok,
            () => false,
          );
        },
        'WebKitWebDriver to listen',
        20_000,
        50,
      );
      const created = (await command(base, 'POST', '/session', {
        capabilities: {
          alwaysMatch: {
            'webkitgtk:browserOptions': {
              binary: MINIBROWSER,
              args: ['--automation', '--autoplay-policy=allow'],
            },
          },
        },
      })) as { sessionId: string; capabilities: Record<string, unknown> };
      const session = new WebKitSession(base, created.sessionId, driver, xvfb.process, created.capabilities);
      await session.cmd('POST', '/window/rect', { width: 1024, height: 768 });
      return session;
    } catch (err) {
      await stop(driver);
      await stop(xvfb.process);
      throw err;
    }
  }

  private cmd(method: string, path: string, body?: unknown): Promise<unknown> {
    return command(this.base, method, `/session/${this.id}${path}`, body);
  }

  /** Navigates and waits for the load event. */
  async goto(url: string): Promise<void> {
    await this.cmd('POST', '/url', { url });
  }

  /** The value of a JavaScript expression in the page (JSON-serialisable). */
  async evaluate<T>(expression: string): Promise<T> {
    return (await this.cmd('POST', '/execute/sync', { script: `return (${expression});`, args: [] })) as T;
  }

  /** PNG screenshot of the first element matching a CSS selector. */
  async screenshot(selector: string): Promise<Buffer> {
    const found = (await this.cmd('POST', '/element', { using: 'css selector', value: selector })) as Record<
      string,
      string
    >;
    const element = found[ELEMENT_KEY];
    if (!element) throw new Error(`no element ${selector}`);
    const base64 = (await this.cmd('GET', `/element/${element}/screenshot`)) as string;
    return Buffer.from(base64, 'base64');
  }

  /** Ends the session (closing MiniBrowser), the driver and Xvfb. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.cmd('DELETE', '').catch(() => undefined);
    await stop(this.driver);
    await stop(this.xvfb);
  }
}

/** One WebDriver command; throws the driver's error message on failure. */
async function command(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = (await res.json()) as { value: unknown };
  if (!res.ok) {
    const error = answer.value as { error?: string; message?: string };
    throw new Error(`WebDriver ${method} ${path}: ${error.error ?? res.status}: ${error.message ?? ''}`);
  }
  return answer.value;
}
