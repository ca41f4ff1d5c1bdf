/**
 * The web app's page and assets on the API server: public even with an API
 * token (regression: with --api-token the page loaded but /assets/app.js and
 * app.css answered 401, so the page was blank), while every API route still
 * needs the token; an asset read that fails answers 503 instead of
 * rejecting (regression: `rearview view` died on that unhandled rejection);
 * unchanged assets are read from disk once; the page is marked for a
 * camera without a token (it then starts the live view before its pairing
 * check) and for the stand-alone viewer.
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

  it('marks the page for a camera without a token and for the stand-alone viewer, each with its own ETag', async () => {
    const root = makeWebRoot(scratch.dir);
    const pages: { body: string; etag: string | null }[] = [];
    for (const options of [{}, { noToken: true }, { viewerOnly: true, noToken: true }]) {
      const handler = createWebAssetsHandler({ root, ...options });
      const server = createServer((req, res) => void handler(req, res));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      try {
        const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
        pages.push({ body: await res.text(), etag: res.headers.get('etag') });
      } finally {
        await new Promise<void>((r) => server.close(() => r()));
      }
    }
    assert.match(pages[0]?.body ?? '', /<body><script/);
    assert.match(pages[1]?.body ?? '', /<body data-no-token="1"><script/);
    assert.match(pages[2]?.body ?? '', /<body data-viewer="1" data-no-token="1"><script/);
    assert.equal(
      new Set(pages.map((p) => p.etag)).size,
      3,
      'a cached page of one kind is never revalidated as another',
    );
  });
});
