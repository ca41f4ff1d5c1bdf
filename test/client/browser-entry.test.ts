/**
 * The browser entry (src/client/browser.ts), bundled with esbuild, in
 * headless Chromium: connectWebSocket() reads the live WebSocket of a real
 * `rearview serve`, decodeVideoFrames() yields WebCodecs VideoFrames of the
 * stream's size. The camera refuses WebSocket upgrades from other origins
 * (a page elsewhere must not watch through a visitor's browser), so the test
 * page's server also forwards /api/v1/live to the daemon: same origin, as a
 * page served by the camera (or by `rearview view`) is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { build } from 'esbuild';
import { startServe } from '../support/daemon.js';
import { repoRoot } from '../support/paths.js';
import { launchChromium } from '../web/web-fixture.js';

test('connectWebSocket + decodeVideoFrames decode the live stream in Chromium', async () => {
  const bundle = await build({
    stdin: {
      contents: `
        import { connectWebSocket, decodeVideoFrames } from './src/client/browser.ts';
        window.runDecode = async (url, count) => {
          const sizes = [];
          const controller = new AbortController();
          for await (const frame of decodeVideoFrames(connectWebSocket(url, { signal: controller.signal }))) {
            sizes.push(frame.codedWidth + 'x' + frame.codedHeight + ':' + frame.displayWidth + 'x' + frame.displayHeight);
            frame.close();
            if (sizes.length === count) { controller.abort(); break; }
          }
          return sizes;
        };`,
      resolveDir: repoRoot,
      loader: 'ts',
    },
    bundle: true,
    format: 'esm',
    write: false,
    platform: 'browser',
  });
  const script = bundle.outputFiles[0]?.text ?? '';
  const page = createServer((req, res) => {
    if (req.url === '/bundle.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><script type="module" src="/bundle.js"></script>');
  });
  const serve = await startServe(['--bind', '127.0.0.1'], { waitForApi: true });
  // Forward WebSocket upgrades byte for byte (Host and Origin stay the page's: same origin).
  page.on('upgrade', (req, socket, head) => {
    const upstream = tcpConnect({ host: '127.0.0.1', port: serve.apiPort as number }, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      upstream.pipe(socket).pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
  const pagePort = (page.address() as { port: number }).port;
  const browser = await launchChromium();
  try {
    const tab = await browser.newPage();
    await tab.goto(`http://127.0.0.1:${pagePort}/`);
    await tab.waitForFunction(() => typeof (window as unknown as { runDecode?: unknown }).runDecode === 'function');
    const sizes = await tab.evaluate(
      ([url, count]) =>
        (window as unknown as { runDecode: (u: string, n: number) => Promise<string[]> }).runDecode(
          url as string,
          count as number,
        ),
      [`ws://127.0.0.1:${pagePort}/api/v1/live`, 20] as const,
    );
    assert.equal(sizes.length, 20);
    for (const s of sizes) assert.match(s, /:640x360$/, 'display size of the sample stream');
  } finally {
    await browser.close();
    await serve.close();
    page.closeAllConnections();
    page.close();
  }
});
