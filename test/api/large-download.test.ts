/**
 * Large downloads stream with flat memory (RSS growth bounded while a 512 MB
 * recording is downloaded), concurrent downloads are capped (429), and a
 * reader that stops reading is dropped by the idle timeout, freeing its slot.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync, ftruncateSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import { requireTool } from '../support/tools.js';
import { curl, startTestApi, type TestApi } from './api-harness.js';

const BIG_BYTES = 512 * 1024 * 1024;

describe('large downloads', () => {
  const scratch = scratchDir('rearview-big-');
  let api: TestApi;

  before(async () => {
    // A sparse file: 512 MB to read, almost nothing on disk.
    const fd = openSync(join(scratch.dir, 'log0001.mkv'), 'w');
    writeSync(fd, Buffer.from('1a45dfa3', 'hex'));
    ftruncateSync(fd, BIG_BYTES);
    closeSync(fd);
    api = await startTestApi(scratch.dir, { api: { maxConcurrentDownloads: 1, downloadIdleTimeoutMs: 400 } });
  });
  after(async () => {
    await api?.close();
    scratch.cleanup();
  });

  it('streams 512 MB with bounded RSS growth', async () => {
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    try {
      const result = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
        const child = spawn(requireTool('curl'), [
          '-s',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code} %{size_download}',
          `${api.url}/api/v1/recordings/log0001.mkv`,
        ]);
        let out = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, out }));
      });
      assert.equal(result.code, 0);
      assert.equal(result.out, `200 ${BIG_BYTES}`);
    } finally {
      clearInterval(sampler);
    }
    const growthMb = (peak - baseline) / 1e6;
    assert.ok(growthMb < 64, `RSS grew by ${growthMb.toFixed(1)} MB while serving ${BIG_BYTES / 1e6} MB`);
  });

  it('caps concurrent downloads (429) and drops a reader that stops reading', async () => {
    // A client that sends the request and then never reads.
    const stalled = connect(api.port, '127.0.0.1');
    stalled.pause();
    stalled.on('error', () => undefined);
    stalled.write('GET /api/v1/recordings/log0001.mkv HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    // Wait until the server counts it as a download in progress.
    await waitFor(() => api.server.downloads.inProgress > 0, 'the download to start', 5000, 5);
    const refused = await curl([`${api.url}/api/v1/recordings/log0001.mkv`], scratch.dir);
    assert.equal(refused.status, 429);
    assert.equal((JSON.parse(refused.text) as { error: { code: string } }).error.code, 'ERR_API_TOO_MANY_DOWNLOADS');
    const legacy = await curl(
      ['-X', 'POST', '--data-binary', join(scratch.dir, 'log0001.mkv'), `${api.url}/download-video`],
      scratch.dir,
    );
    assert.equal(legacy.status, 429);
    // The idle timeout (400 ms here) cuts the stalled reader and frees its slot
    // (the paused client itself never sees the close: it does not read).
    await waitFor(() => api.server.downloads.inProgress === 0, 'the slot to be freed', 5000, 5);
    stalled.destroy();
    const ok = await curl(['-H', 'Range: bytes=0-3', `${api.url}/api/v1/recordings/log0001.mkv`], scratch.dir);
    assert.equal(ok.status, 206);
    assert.equal(ok.body.toString('hex'), '1a45dfa3');
  });
});
