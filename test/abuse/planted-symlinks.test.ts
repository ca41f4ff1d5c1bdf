/**
 * Files planted in the recordings folder before the daemon starts: symbolic
 * links out of it (absolute, relative, chained, to /etc/passwd, to a
 * folder, dangling), a folder of links, FIFOs (opening one would block a
 * reader forever) and a folder named like a segment. Every file route
 * refuses them without following, listings leave them out, delete and wipe
 * never reach through them. Races (a link swapped in while serving) are in
 * their own file.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { leaks, startAbuseDaemon, type AbuseDaemon, type RawExchange } from './abuse-daemon.js';

/** Planted segment names and what each is. */
const PLANTED_MKV = {
  'log0090.mkv': 'absolute link to a sibling folder file',
  'log0091.mkv': 'relative link to the parent folder file',
  'log0092.mkv': 'link to /etc/passwd',
  'log0093.mkv': 'link to a link that leads out',
  'log0094.mkv': 'relative link into the sibling folder',
  'log0095.mkv': 'link to a folder',
  'log0096.mkv': 'FIFO',
  'log0097.mkv': 'dangling link',
  'log0089.mkv': 'a folder',
} as const;
const PLANTED_JPG = ['log0090_1713198990.jpg', 'log0096_1713198996.jpg', 'log0092_1713198992.jpg'];

describe('links, FIFOs and folders planted in the recordings folder', () => {
  let d: AbuseDaemon;
  before(async () => {
    d = await startAbuseDaemon({
      plant: ({ recordings: r, outside }) => {
        symlinkSync(join(outside, 'log0099.mkv'), join(r, 'log0090.mkv'));
        symlinkSync('../log0098.mkv', join(r, 'log0091.mkv'));
        symlinkSync('/etc/passwd', join(r, 'log0092.mkv'));
        symlinkSync('log0094.mkv', join(r, 'log0093.mkv'));
        symlinkSync('../outside/log0099.mkv', join(r, 'log0094.mkv'));
        symlinkSync(outside, join(r, 'log0095.mkv'));
        execFileSync('mkfifo', [join(r, 'log0096.mkv'), join(r, 'log0096_1713198996.jpg')]);
        symlinkSync('/nonexistent/log0097.mkv', join(r, 'log0097.mkv'));
        mkdirSync(join(r, 'log0089.mkv'));
        symlinkSync(join(outside, 'log0099_1713198999.jpg'), join(r, 'log0090_1713198990.jpg'));
        symlinkSync('/etc/passwd', join(r, 'log0092_1713198992.jpg'));
        symlinkSync(outside, join(r, 'linked-folder'));
      },
    });
  });
  after(async () => {
    await d?.close();
  });

  /** Fails unless every exchange was refused (400/404), answered in time, and leaked nothing. */
  function refused(label: string, r: RawExchange): string[] {
    const problems: string[] = [];
    if (r.timedOut) problems.push(`${label}: no answer (blocked?)`);
    if (r.status !== 400 && r.status !== 404) problems.push(`${label}: status ${r.status}`);
    if (leaks(r.raw)) problems.push(`${label}: LEAKED a secret`);
    return problems;
  }

  it('every file route refuses each planted segment, as .mkv and as .mp4', async () => {
    const problems: string[] = [];
    for (const [name, what] of Object.entries(PLANTED_MKV)) {
      const abs = `${d.recordingsDir}/${name}`;
      const o = { timeoutMs: 5000 };
      problems.push(...refused(`GET /download-video ${what}`, await d.http('GET', `/download-video?${abs}`, o)));
      problems.push(
        ...refused(`POST /download-video ${what}`, await d.http('POST', '/download-video', { ...o, body: abs })),
      );
      problems.push(...refused(`GET v1 ${what}`, await d.http('GET', `/api/v1/recordings/${name}`, o)));
      problems.push(...refused(`HEAD v1 ${what}`, await d.http('HEAD', `/api/v1/recordings/${name}`, o)));
      problems.push(
        ...refused(`GET v1 .mp4 ${what}`, await d.http('GET', `/api/v1/recordings/${name.replace('.mkv', '.mp4')}`, o)),
      );
      problems.push(
        ...refused(
          `GET v1 Range ${what}`,
          await d.http('GET', `/api/v1/recordings/${name}`, { ...o, headers: { Range: 'bytes=0-10' } }),
        ),
      );
    }
    assert.deepEqual(problems, []);
  });

  it('both thumbnail routes refuse planted thumbnails', async () => {
    const problems: string[] = [];
    for (const name of PLANTED_JPG) {
      problems.push(
        ...refused(
          `GET /download-thumbnail ${name}`,
          await d.http('GET', `/download-thumbnail?${d.recordingsDir}/${name}`, { timeoutMs: 5000 }),
        ),
      );
      problems.push(
        ...refused(`GET v1 ${name}`, await d.http('GET', `/api/v1/recordings/${name}`, { timeoutMs: 5000 })),
      );
    }
    assert.deepEqual(problems, []);
  });

  it('a path through a linked folder is refused', async () => {
    for (const via of ['linked-folder', 'log0095.mkv']) {
      const r = await d.http('GET', `/download-video?${d.recordingsDir}/${via}/log0099.mkv`);
      assert.deepEqual(refused(via, r), []);
    }
  });

  it('the listings name only the real segments', async () => {
    const legacy = await d.http('GET', '/list-local-videos');
    const paths = (JSON.parse(legacy.body.toString()) as Array<{ path: string }>).map((e) => e.path);
    assert.deepEqual(
      paths,
      ['log0001.mkv', 'log0002.mkv'].map((n) => `${d.recordingsDir}/${n}`),
    );
    const v1 = await d.http('GET', '/api/v1/recordings');
    const names = (JSON.parse(v1.body.toString()) as { recordings: Array<{ name: string }> }).recordings.map(
      (r) => r.name,
    );
    assert.deepEqual(names, ['log0001.mkv', 'log0002.mkv']);
    assert.ok(!leaks(legacy.raw) && !leaks(v1.raw));
  });

  it('delete refuses a planted link; wipe removes the real segments and nothing beyond the folder', async () => {
    for (const name of ['log0090.mkv', 'log0091.mkv', 'log0095.mkv']) {
      const r = await d.http('DELETE', `/api/v1/recordings/${name}`);
      assert.ok(r.status === 400 || r.status === 404, `${name}: ${r.status}`);
    }
    const wipe = await d.http('GET', '/wipe-local-videos');
    assert.equal(wipe.status, 200);
    assert.equal(wipe.body.toString(), 'Wiped 2 local videos');
    assert.deepEqual(
      d.segmentNames().filter((n) => !(n in PLANTED_MKV)),
      [],
    );
    d.secretsIntact();
    await d.assertServing();
  });
});
