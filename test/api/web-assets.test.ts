/**
 * The web app's page and assets on the API server: public even with an API
 * token (regression: with --api-token the page loaded but /assets/app.js and
 * app.css answered 401, so the page was blank), while every API route still
 * needs the token; an asset read that fails answers 503 instead of
 * rejecting (regression: `rearview view` died on that unhandled rejection);
 * unchanged assets are read from disk once.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createWebAssetsHandler } from '../../src/api/static-assets.js';
import { scratchDir } from '../support/paths.js';
import { curl, startTestApi, type TestApi } from './api-harness.js';

/** A tiny built web app: index.html plus assets/app.js and assets/app.css. */
function makeWebRoot(dir: string): string {
  const root = join(dir, 'web');
  mkdirSync(join(root, 'assets'), { recursive: true });
  writeFileSync(
    join(root, 'index.html'),
    '<!doctype html><html><body><script src="assets/app.js"></script></body></html>',
  );
  writeFileSync(join(root, 'assets', 'app.js'), 'console.log("app");\n');
  writeFileSync(join(root, 'assets', 'app.css'), 'body { margin: 0 }\n');
  return root;
}

describe('web page and assets with an API token', () => {
  const scratch = scratchDir('rearview-webtoken-');
  let api: TestApi;
  before(async () => {
    const rec = join(scratch.dir, 'rec');
    mkdirSync(rec);
    const assets = createWebAssetsHandler({ root: makeWebRoot(scratch.dir) });
    api = await startTestApi(rec, {
      config: { apiToken: 's3cret' },
      api: { web: { handleRequest: (req: IncomingMessage, res: ServerResponse) => assets(req, res) } },
    });
  });
  after(async () => {
    await api?.close();
    scratch.cleanup();
  });

  it('serves the page (HTML) and /assets/* without the token', async () => {
    const page = await curl(['-H', 'Accept: text/html', `${api.url}/`], scratch.dir);
    assert.equal(page.status, 200);
    assert.match(page.text, /assets\/app\.js/);
    assert.equal((await curl([`${api.url}/assets/app.js`], scratch.dir)).status, 200);
    assert.equal((await curl([`${api.url}/assets/app.css`], scratch.dir)).status, 200);
    assert.equal((await curl([`${api.url}/assets/missing.js`], scratch.dir)).status, 404);
  });

  it('still refuses every API route and the greeting without the token', async () => {
    for (const path of [
      '/',
      '/api/v1/status',
      '/api/v1/recordings',
      '/list-local-videos',
      '/metrics',
      '/api/v1/assets/x',
    ]) {
      assert.equal((await curl([`${api.url}${path}`], scratch.dir)).status, 401, path);
    }
    assert.equal(
      (await curl(['-X', 'POST', `${api.url}/assets/app.js`], scratch.dir)).status,
      401,
      'only GET/HEAD are public',
    );
    assert.equal(
      (await curl([`${api.url}/api/v1/status?token=s3cret`], scratch.dir)).status,
      401,
      'never a token in the URL',
    );
    assert.equal(
      (await curl(['-H', 'Cookie: rearview_token=s3cret', `${api.url}/api/v1/status`], scratch.dir)).status,
      200,
    );
  });
});

describe('web assets handler', () => {
  const scratch = scratchDir('rearview-webassets-');
  after(() => scratch.cleanup());

  it('answers 503 when reading an asset fails instead of rejecting, and reads an unchanged asset once', async () => {
    const root = makeWebRoot(scratch.dir);
    let reads = 0;
    let fail = false;
    const handler = createWebAssetsHandler({
      root,
      readFile: async (file) => {
        reads++;
        if (fail) throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
        return readFile(file);
      },
    });
    const rejections: unknown[] = [];
    const server = createServer((req, res) => {
      handler(req, res).catch((err: unknown) => {
        rejections.push(err);
        res.destroy();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      assert.equal((await fetch(`${url}/assets/app.js`)).status, 200);
      assert.equal((await fetch(`${url}/assets/app.js`)).status, 200);
      assert.equal(reads, 1, 'the second request is served from the cached Buffer');
      fail = true;
      const res = await fetch(`${url}/assets/app.css`);
      assert.equal(res.status, 503);
      await res.arrayBuffer();
      assert.deepEqual(rejections, []);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
