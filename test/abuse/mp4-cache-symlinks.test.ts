/**
 * Hostile files in the recordings folder, against a real daemon: links
 * planted at the MP4 cache's predictable names (the cached file and the old
 * `<key>.<pid>.<n>.part` temp name), the cache folder itself a link to
 * another folder, hard links to outside files, FIFOs, a subfolder link, and
 * links at the recorder's own temp names. Nothing outside the folder may be
 * read, written or deleted, nothing may hang, and the daemon keeps serving.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it, before, after } from 'node:test';
import { makeRecordings } from '../api/api-harness.js';
import { startDaemonInProcess, type InProcessDaemon } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

const SECRET = 'TOP-SECRET root:x:0:0';

/** The cache file name the daemon uses for `name` (its size and mtime): predictable by design. */
function cacheKey(dir: string, name: string): string {
  const s = statSync(join(dir, name));
  return `${name.replace(/\.mkv$/, '')}-${s.size}-${Math.floor(s.mtimeMs)}.mp4`;
}

describe('hostile files in the recordings folder', () => {
  const scratch = scratchDir('rearview-abuse-');
  const rec = join(scratch.dir, 'recordings');
  const outside = join(scratch.dir, 'outside');
  const secretPath = join(outside, 'secret.txt');
  let daemon: InProcessDaemon;
  let base: string;

  before(async () => {
    mkdirSync(rec);
    mkdirSync(outside);
    makeRecordings(rec, 3);
    writeFileSync(secretPath, SECRET);
    daemon = await startDaemonInProcess({ recordingsDir: rec });
    base = `http://127.0.0.1:${daemon.daemon.apiAddress!.port}`;
  });
  after(async () => {
    await daemon?.close();
    scratch.cleanup();
  });

  const get = async (path: string, init?: RequestInit): Promise<{ status: number; body: Buffer; headers: Headers }> => {
    const res = await fetch(base + path, init);
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
  };

  it('a link planted at the cache name is never served, and a link at the old .part name is never written through', async () => {
    const cache = join(rec, '.mp4-cache');
    mkdirSync(cache, { mode: 0o700 });
    const key = cacheKey(rec, 'log0001.mkv');
    symlinkSync(secretPath, join(cache, key));
    // The old temp name was `<key>.<pid>.<n>.part`: the pid is public (.recording.json). Plant the first few.
    for (let n = 1; n <= 4; n++) symlinkSync(secretPath, join(cache, `${key}.${process.pid}.${n}.part`));
    for (const path of ['/api/v1/recordings/log0001.mp4', `/download-video?${join(rec, 'log0001.mkv')}`]) {
      const r = await get(path, { headers: { range: 'bytes=0-99' } });
      assert.ok(!r.body.includes(SECRET), `${path} leaked the secret`);
      assert.ok(r.status === 206 || r.status === 200, `${path}: ${r.status}`);
      assert.equal(r.body.subarray(4, 8).toString(), 'ftyp', 'the real MP4');
    }
    const full = await get('/api/v1/recordings/log0001.mp4');
    assert.equal(full.status, 200);
    assert.equal(full.body.subarray(4, 8).toString(), 'ftyp');
    assert.equal(readFileSync(secretPath, 'utf8'), SECRET, 'the secret was not overwritten');
    assert.ok(
      !statSync(join(cache, key), { throwIfNoEntry: false })?.isSymbolicLink?.(),
      'the planted link was replaced',
    );
    assert.equal(statSync(cache).mode & 0o777, 0o700, 'the cache folder is private');
  });

  it('a cache folder that is a link to another folder is not used: nothing is written or deleted there', async () => {
    const victimDir = join(scratch.dir, 'victim');
    mkdirSync(victimDir);
    // What rotation or delete would remove through the link: log0002-*.
    writeFileSync(join(victimDir, 'log0002-precious.mp4'), 'precious');
    const cache = join(rec, '.mp4-cache');
    execFileSync('rm', ['-rf', cache]);
    symlinkSync(victimDir, cache);
    const r = await get('/api/v1/recordings/log0002.mp4', { headers: { range: 'bytes=0-99' } });
    assert.equal(r.status, 200, 'served whole, without the cache (no ranges)');
    assert.equal(r.body.subarray(4, 8).toString(), 'ftyp');
    assert.equal(r.headers.get('accept-ranges'), 'none');
    const del = await get('/api/v1/recordings/log0002.mkv', { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.deepEqual(
      readdirSync(victimDir),
      ['log0002-precious.mp4'],
      'nothing written to or deleted from the linked folder',
    );
    execFileSync('rm', [cache]);
  });

  it('hard links, FIFOs, links to folders and subfolder links are refused without hanging', async () => {
    linkSync(secretPath, join(rec, 'log0005.mkv'));
    linkSync(secretPath, join(rec, 'log0005_1713199999.jpg'));
    execFileSync('mkfifo', [join(rec, 'log0006.mkv'), join(rec, 'log0006_1713199999.jpg')]);
    symlinkSync(outside, join(rec, 'log0007.mkv'));
    mkdirSync(join(rec, 'log0008.mkv'));
    symlinkSync(outside, join(rec, 'sub'));
    const attempts: Array<[string, RequestInit?]> = [];
    for (const n of ['log0005', 'log0006', 'log0007', 'log0008']) {
      attempts.push(
        [`/api/v1/recordings/${n}.mkv`],
        [`/api/v1/recordings/${n}.mp4`],
        [`/api/v1/recordings/${n}_1713199999.jpg`],
        [`/download-video?${join(rec, `${n}.mkv`)}`],
        [`/download-thumbnail?${join(rec, `${n}_1713199999.jpg`)}`],
        ['/download-video', { method: 'POST', body: join(rec, `${n}.mkv`) }],
      );
    }
    attempts.push(
      [`/download-video?${join(rec, 'sub', 'secret.txt')}`],
      [`/api/v1/recordings/${encodeURIComponent('sub/log0001.mkv')}`],
    );
    for (const [path, init] of attempts) {
      const r = await get(path, init);
      assert.ok(r.status === 400 || r.status === 404, `${init?.method ?? 'GET'} ${path}: ${r.status}`);
      assert.ok(!r.body.includes(SECRET), `${path} leaked the secret`);
    }
    // Still serving after all that.
    assert.equal((await get('/api/v1/recordings/log0003.mkv')).status, 200);
  });

  it('the recordings folder itself may be a link (the user chose it)', async () => {
    const linked = join(scratch.dir, 'linked-recordings');
    symlinkSync(rec, linked);
    const other = await startDaemonInProcess({ recordingsDir: linked });
    try {
      const url = `http://127.0.0.1:${other.daemon.apiAddress!.port}`;
      const mkv = await fetch(`${url}/api/v1/recordings/log0003.mkv`);
      assert.equal(mkv.status, 200);
      assert.deepEqual(Buffer.from(await mkv.arrayBuffer()), readFileSync(join(rec, 'log0003.mkv')));
      const mp4 = await fetch(`${url}/api/v1/recordings/log0003.mp4`, { headers: { range: 'bytes=0-7' } });
      assert.ok(mp4.status === 206, `MP4 range: ${mp4.status}`);
      assert.equal(
        Buffer.from(await mp4.arrayBuffer())
          .subarray(4, 8)
          .toString(),
        'ftyp',
      );
    } finally {
      await other.close();
    }
  });
});

describe('the recorder never writes through a link planted at its temp names', () => {
  it('markers and thumbnails: temp names are unpredictable and created exclusively', async () => {
    const scratch = scratchDir('rearview-abuse-rec-');
    const rec = join(scratch.dir, 'recordings');
    const victim = join(scratch.dir, 'victim.txt');
    writeFileSync(victim, 'precious');
    chmodSync(victim, 0o644);
    mkdirSync(rec);
    // The old fixed temp names; planted after start-up's sweep would be the same, planted before is simpler.
    const planted = ['.recording.json.tmp', '.recorder-state.json.tmp'];
    const nowS = Math.floor(Date.now() / 1000);
    for (let s = nowS - 2; s <= nowS + 30; s++) for (let n = 0; n < 10; n++) planted.push(`log000${n}_${s}.jpg.part`);
    const daemon = await startDaemonInProcess({ recordingsDir: rec, record: true, segmentMs: 1000 });
    try {
      // Planted once the recorder runs (its start-up sweep removes stale temp names, links included).
      for (const n of planted) symlinkSync(victim, join(rec, n));
      // A thumbnail after the first (one at a time: some segments get none) and a marker rewrite.
      const thumbs = (): string[] => readdirSync(rec).filter((n) => /^log\d{4}_\d+\.jpg$/.test(n));
      await waitFor(
        () => thumbs().length >= 2 && readdirSync(rec).includes('log0002.mkv'),
        'two thumbnails and a third segment',
        30_000,
      );
      assert.equal(readFileSync(victim, 'utf8'), 'precious', 'nothing was written through a planted link');
      const thumb = thumbs().at(-1) as string;
      assert.ok(
        readFileSync(join(rec, thumb))
          .subarray(0, 2)
          .equals(Buffer.from([0xff, 0xd8])),
        'the thumbnail is a JPEG',
      );
      assert.ok(existsSync(join(rec, '.recording.json')));
    } finally {
      await daemon.close();
      scratch.cleanup();
    }
  });
});
