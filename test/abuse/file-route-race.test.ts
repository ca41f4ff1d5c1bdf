/**
 * The check-then-open race on every file route, against a real daemon: a
 * separate process keeps swapping a recording and its thumbnail for
 * symbolic links to an outside secret (and back) while a bounded number of
 * requests hit the legacy download (GET MP4, POST MKV), the thumbnails and
 * /api/v1/recordings/:name with and without Range. Every 2xx answer must be
 * exactly the recording's own bytes (or the asked range of them); anything
 * else is a leak. The daemon used to check with lstat and open the path
 * again, which served the secret to a good share of such requests.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeRecordings } from '../api/api-harness.js';
import { startDaemonInProcess } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';

/** Requests in all (bounded: the test takes seconds). */
const REQUESTS = 500;
/** Requests in flight at once. */
const CONCURRENCY = 8;

/** Swaps `names` in `dir` for links to `secret` and back, until killed (a tight loop in its own process). */
const SWAPPER = `
const fs = require('node:fs');
const [dir, side, secret, ...names] = process.argv.slice(1);
let n = 0;
for (;;) {
  for (const name of names) {
    const link = side + '/link-' + name + '-' + (n++);
    fs.symlinkSync(secret, link);
    fs.renameSync(dir + '/' + name, side + '/' + name); // the real file steps aside
    fs.renameSync(link, dir + '/' + name);               // a link to the secret takes its name
    fs.renameSync(side + '/' + name, dir + '/' + name);  // and the real file comes back over it
  }
}`;

test('swapping a recording for a link to a secret never leaks it through any file route', async () => {
  const scratch = scratchDir('rearview-race-');
  const rec = join(scratch.dir, 'recordings');
  const side = join(scratch.dir, 'side');
  mkdirSync(rec);
  mkdirSync(side);
  makeRecordings(rec, 1);
  const mkvName = 'log0001.mkv';
  const jpgName = readdirSync(rec).find((n) => n.endsWith('.jpg')) as string;
  const mkv = readFileSync(join(rec, mkvName));
  const jpg = readFileSync(join(rec, jpgName));
  const secretPath = join(scratch.dir, 'secret.bin');
  const SECRET = Buffer.from('TOP-SECRET root:x:0:0 '.repeat(200));
  writeFileSync(secretPath, SECRET);

  const daemon = await startDaemonInProcess({ recordingsDir: rec, maxDownloads: 64 });
  const base = `http://127.0.0.1:${daemon.daemon.apiAddress!.port}`;
  let swapper: ReturnType<typeof spawn> | undefined;
  try {
    // The MP4 once, before any swapping: every later MP4 answer must be these bytes.
    const mp4Response = await fetch(`${base}/api/v1/recordings/log0001.mp4`);
    assert.equal(mp4Response.status, 200);
    const mp4 = Buffer.from(await mp4Response.arrayBuffer());
    assert.equal(mp4.subarray(4, 8).toString(), 'ftyp');

    interface Route {
      label: string;
      url: string;
      init?: RequestInit;
      expected: Buffer;
    }
    const range = (start: number, end: number): RequestInit => ({ headers: { range: `bytes=${start}-${end}` } });
    const routes: Route[] = [
      { label: 'legacy GET MP4', url: `${base}/download-video?${join(rec, mkvName)}`, expected: mp4 },
      {
        label: 'legacy POST MKV',
        url: `${base}/download-video`,
        init: { method: 'POST', body: join(rec, mkvName) },
        expected: mkv,
      },
      { label: 'legacy thumbnail', url: `${base}/download-thumbnail?${join(rec, jpgName)}`, expected: jpg },
      { label: 'v1 MKV', url: `${base}/api/v1/recordings/${mkvName}`, expected: mkv },
      {
        label: 'v1 MKV range',
        url: `${base}/api/v1/recordings/${mkvName}`,
        init: range(0, 99),
        expected: mkv.subarray(0, 100),
      },
      { label: 'v1 thumbnail', url: `${base}/api/v1/recordings/${jpgName}`, expected: jpg },
      {
        label: 'v1 thumbnail range',
        url: `${base}/api/v1/recordings/${jpgName}`,
        init: range(10, 400),
        expected: jpg.subarray(10, 401),
      },
      { label: 'v1 MP4', url: `${base}/api/v1/recordings/log0001.mp4`, expected: mp4 },
      {
        label: 'v1 MP4 range',
        url: `${base}/api/v1/recordings/log0001.mp4`,
        init: range(0, 999),
        expected: mp4.subarray(0, 1000),
      },
    ];

    swapper = spawn(process.execPath, ['-e', SWAPPER, rec, side, secretPath, mkvName, jpgName], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let swapperError = '';
    swapper.stderr?.on('data', (d: Buffer) => (swapperError += d.toString()));

    const statuses = new Map<string, number>();
    const leaks: string[] = [];
    let served = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < REQUESTS) {
        const route = routes[next++ % routes.length] as Route;
        const res = await fetch(route.url, route.init);
        const body = Buffer.from(await res.arrayBuffer());
        statuses.set(`${route.label} ${res.status}`, (statuses.get(`${route.label} ${res.status}`) ?? 0) + 1);
        if (body.includes('TOP-SECRET')) leaks.push(`${route.label}: ${res.status} with the secret`);
        else if (res.status < 300) {
          served++;
          if (!body.equals(route.expected))
            leaks.push(`${route.label}: ${res.status} with ${body.length} bytes that are not the recording's`);
        } else if (res.status !== 400 && res.status !== 404)
          leaks.push(`${route.label}: unexpected status ${res.status}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    assert.equal(swapperError, '', 'the swapper ran without errors');
    // The figures, for the record: how many were tried, served, refused.
    console.log(
      `race: ${REQUESTS} requests, ${served} served the recording, ${leaks.length} leaks; ${[...statuses].map(([k, v]) => `${k}: ${v}`).join(', ')}`,
    );
    assert.deepEqual(leaks.slice(0, 10), [], `${leaks.length} of ${REQUESTS} requests leaked`);
    assert.ok(served > 0, 'some requests hit the real file (the race was really run)');
    assert.ok(
      [...statuses.keys()].some((k) => / 400$/.test(k)),
      'some requests hit a link (the race was really run)',
    );
  } finally {
    swapper?.kill('SIGKILL');
    await daemon.close();
    scratch.cleanup();
  }
});
