/**
 * The client flow of the device's docs (lesson 3, HTTP API reference), with
 * curl against a real recording daemon: list, then for every finished
 * segment fetch `/download-thumbnail?<path without .mkv>_<date_updated>.jpg`;
 * date_updated does not move when a finished segment's file is touched later
 * (a modification time would); `GET /download-video?path=...`; `rearview
 * videos thumbs` over the legacy routes only; delete-one and wipe take the
 * thumbnails with them.
 */
import assert from 'node:assert/strict';
import { readdirSync, utimesSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { RecorderService } from '../../src/recorder/recorder-service.js';
import { runCli } from '../cli/cli-run.js';
import { startDaemonInProcess, type InProcessDaemon } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import { curl } from './api-harness.js';

interface LegacyEntry {
  path: string;
  date_updated: string;
}

/** A proxy that answers /api/* like the original firmware (501), so clients use the legacy routes. */
async function legacyOnly(apiPort: number): Promise<{ server: Server; address: string }> {
  const server = createServer((req, res) => {
    if ((req.url ?? '').startsWith('/api/')) {
      res.writeHead(501).end(`Unknown ${req.method} request`);
      return;
    }
    const upstream = request(
      { host: '127.0.0.1', port: apiPort, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, address: `127.0.0.1:${(server.address() as { port: number }).port}` };
}

describe('the documented client flow against a recording daemon (curl)', () => {
  const scratch = scratchDir('rearview-flow-');
  let d: InProcessDaemon;
  let base = '';
  let service: RecorderService;
  let dir = '';

  const list = async (): Promise<LegacyEntry[]> => {
    const r = await curl([`${base}/list-local-videos`], scratch.dir);
    assert.equal(r.status, 200);
    return JSON.parse(r.text) as LegacyEntry[];
  };
  const thumbUrl = (e: LegacyEntry): string =>
    `${base}/download-thumbnail?${e.path.replace(/\.mkv$/, '')}_${e.date_updated}.jpg`;

  before(async () => {
    d = await startDaemonInProcess({
      record: true,
      segmentMs: '1s',
      minFreeBytes: 0,
      minFreePercent: 0,
      deviceBackend: 'simulated',
    });
    base = `http://127.0.0.1:${d.daemon.apiAddress?.port}`;
    service = d.daemon.services.find((s) => s.name === 'recorder') as RecorderService;
    dir = service.library.dir;
    await waitFor(
      async () => (await service.library.list()).filter((r) => !r.inProgress && r.thumbnail).length >= 3,
      'three finished segments with thumbnails',
      60_000,
      100,
    );
  });
  after(async () => {
    await d?.close();
    scratch.cleanup();
  });

  it('every finished segment with a thumbnail answers <path without .mkv>_<date_updated>.jpg', async () => {
    const finished = (await service.library.list()).filter((r) => !r.inProgress && r.thumbnail);
    const entries = await list();
    let fetched = 0;
    for (const r of finished) {
      const e = entries.find((x) => x.path === r.path);
      assert.ok(e, `${r.name} listed`);
      const got = await curl([thumbUrl(e)], scratch.dir);
      assert.equal(got.status, 200, `${thumbUrl(e)}: ${got.text.slice(0, 80)}`);
      assert.equal(got.headers['content-type'], 'image/jpeg');
      assert.deepEqual([...got.body.subarray(0, 2)], [0xff, 0xd8], 'a JPEG');
      fetched++;
    }
    assert.ok(fetched >= 3);
    // Old to new in recording order: the numbers follow each other.
    const numbers = entries.map((e) => Number(/log(\d{4})\.mkv$/.exec(e.path)?.[1]));
    for (let i = 1; i < numbers.length; i++) assert.equal(numbers[i], (numbers[i - 1] as number) + 1);
  });

  it('date_updated does not change when a finished segment is written to later (mtime moved)', async () => {
    const finished = (await service.library.list()).filter((r) => !r.inProgress && r.thumbnail).slice(0, 3);
    const before = new Map((await list()).map((e) => [e.path, e.date_updated]));
    const later = Date.now() / 1000 + 3600;
    for (const r of finished) utimesSync(r.path, later, later); // as protection, upload or a repair would
    // The API caches the list for a second: wait until it shows the new modification times.
    await waitFor(
      async () => {
        const v1 = (await (await fetch(`${base}/api/v1/recordings`)).json()) as {
          recordings: { name: string; modifiedAt: string }[];
        };
        return finished.every(
          (r) => Date.parse(v1.recordings.find((x) => x.name === r.name)?.modifiedAt ?? '') >= later * 1000 - 1000,
        );
      },
      'the touched modification times listed',
      10_000,
      50,
    );
    const now = await list();
    for (const r of finished) {
      const e = now.find((x) => x.path === r.path) as LegacyEntry;
      assert.equal(e.date_updated, before.get(r.path), `${r.name}: date_updated kept`);
      assert.equal((await curl([thumbUrl(e)], scratch.dir)).status, 200);
    }
  });

  it('GET /download-video?path=... is accepted beside the positional form', async () => {
    const [first] = (await service.library.list()).filter((r) => !r.inProgress);
    assert.ok(first);
    for (const query of [`path=${encodeURIComponent(first.path)}`, `path=${first.path}`, first.path]) {
      const r = await curl([`${base}/download-video?${query}`], scratch.dir);
      assert.equal(r.status, 200, `${query}: ${r.text.slice(0, 80)}`);
      assert.equal(r.headers['content-type'], 'video/mp4');
      assert.equal(r.body.subarray(4, 8).toString('latin1'), 'ftyp');
    }
    const outside = await curl([`${base}/download-video?path=${encodeURIComponent('/etc/passwd')}`], scratch.dir);
    assert.equal(outside.status, 400);
    const twice = await curl([`${base}/download-video?path=${first.path}&path=${first.path}`], scratch.dir);
    assert.equal(twice.status, 400);
    const encodedTwice = await curl(
      [`${base}/download-video?path=${encodeURIComponent(encodeURIComponent(first.path))}`],
      scratch.dir,
    );
    assert.equal(encodedTwice.status, 400, 'decoded once only');
  });

  it('rearview videos thumbs over the legacy routes builds the same names and gets every thumbnail', async () => {
    const proxy = await legacyOnly(d.daemon.apiAddress?.port as number);
    const out = scratchDir('rearview-thumbs-');
    try {
      const finished = (await service.library.list()).filter((r) => !r.inProgress && r.thumbnail);
      const r = await runCli(['videos', 'thumbs', out.dir, '--camera', proxy.address]);
      assert.equal(r.code, 0, r.stderr);
      const got = readdirSync(out.dir);
      for (const f of finished)
        assert.ok(got.includes(f.thumbnail?.name as string), `${f.thumbnail?.name} in ${got.join(' ')}`);
    } finally {
      proxy.server.closeAllConnections();
      proxy.server.close();
      out.cleanup();
    }
  });

  it('delete-one and wipe remove the thumbnails with their segments', async () => {
    const [first] = (await service.library.list()).filter((r) => !r.inProgress && r.thumbnail);
    assert.ok(first);
    const del = await curl(['-X', 'DELETE', `${base}/api/v1/recordings/${first.name}`], scratch.dir);
    assert.equal(del.status, 200, del.text);
    const stem = first.name.replace(/\.mkv$/, '');
    assert.ok(!readdirSync(dir).some((n) => n.startsWith(stem)), `${stem} gone: ${readdirSync(dir).join(' ')}`);
    const wipe = await curl([`${base}/wipe-local-videos`], scratch.dir);
    assert.equal(wipe.status, 200);
    // Only the segment being written (and its thumbnail) may be left, and nothing orphaned.
    const names = readdirSync(dir).filter((n) => n.endsWith('.mkv') || n.endsWith('.jpg'));
    const segments = new Set(names.filter((n) => n.endsWith('.mkv')).map((n) => n.slice(0, 7)));
    assert.ok(segments.size <= 2, names.join(' '));
    for (const n of names.filter((x) => x.endsWith('.jpg'))) assert.ok(segments.has(n.slice(0, 7)), `orphan ${n}`);
  });
});
