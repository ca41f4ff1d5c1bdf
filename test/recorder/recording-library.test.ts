import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { hasCode } from '../../src/errors.js';
import { Recorder } from '../../src/recorder/recorder.js';
import { RecordingLibrary } from '../../src/recorder/recording-library.js';
import { segmentName } from '../../src/recorder/segment-names.js';
import { samplePath } from '../hub/access-units.js';
import { scratchDir } from '../support/paths.js';
import { HubFeeder, noLimits } from './recording-fixtures.js';

const START_MS = Date.UTC(2026, 0, 2, 3, 4, 5);

/** Records `seconds` of the sample into `dir` in 1 s segments, thumbnails included. */
async function record(dir: string, seconds: number): Promise<void> {
  const feeder = HubFeeder.ofFile(samplePath, 30, START_MS);
  const recorder = new Recorder({ hub: feeder.hub, dir, segmentMs: 1000, limits: noLimits, retentionIntervalMs: 0 });
  await recorder.start();
  for (let i = 0; i < seconds * 30; i += 15) {
    feeder.push(15);
    await recorder.flush();
    await recorder.thumbnailsIdle();
  }
  await recorder.close();
}

test('list: names, start times, durations, sizes, resolution, thumbnails, old to new', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    await record(dir, 3);
    const lib = new RecordingLibrary(dir);
    const list = await lib.list();
    assert.deepEqual(
      list.map((r) => r.name),
      ['log0000.mkv', 'log0001.mkv', 'log0002.mkv'],
    );
    for (const [i, r] of list.entries()) {
      assert.equal(r.path, join(dir, r.name));
      assert.equal(r.startedAtMs, START_MS + i * 1000);
      assert.ok(r.durationMs !== null && Math.abs(r.durationMs - 1000) <= 34, `duration ${r.durationMs}`);
      assert.equal(r.width, 640);
      // Regression: the track once carried the coded size (640x368, whole macroblocks) instead of the picture's.
      assert.equal(r.height, 360);
      assert.ok(r.sizeBytes > 10_000);
      assert.equal(r.inProgress, false);
      assert.equal(r.thumbnail?.name, `log000${i}_${Math.floor((START_MS + i * 1000) / 1000)}.jpg`);
    }
    const usage = await lib.usage();
    assert.equal(usage.files, 3);
    assert.equal(
      usage.totalBytes,
      list.reduce((n, r) => n + r.sizeBytes, 0),
    );
    assert.ok(usage.diskBytes > 0 && usage.freeBytes > 0);
  } finally {
    cleanup();
  }
});

test('list on 900 files reads each header once, then only files whose size or mtime changed', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    await record(dir, 1);
    const one = join(dir, 'log0000.mkv');
    for (let i = 1; i < 900; i++) copyFileSync(one, join(dir, segmentName(i)));
    const lib = new RecordingLibrary(dir);
    assert.equal((await lib.list()).length, 900);
    assert.equal(lib.stats.headerReads, 900);
    assert.equal((await lib.list()).length, 900);
    assert.equal(lib.stats.headerReads, 900, 'second list re-read nothing');
    appendFileSync(join(dir, 'log0500.mkv'), Buffer.alloc(1)); // size changes
    const third = await lib.list();
    assert.equal(lib.stats.headerReads, 901, 'only the changed file was re-read');
    assert.equal(third.find((r) => r.name === 'log0500.mkv')?.width, 640);
    assert.equal(lib.stats.scans, 0, 'sealed files are never scanned');
  } finally {
    cleanup();
  }
});

test('path safety: every trick is refused with ERR_PATH_OUTSIDE, missing files with ERR_NOT_FOUND', async () => {
  const { dir, cleanup } = scratchDir();
  const outsideDir = scratchDir();
  try {
    await record(dir, 2);
    const lib = new RecordingLibrary(dir);
    assert.equal(await lib.resolveSegment('log0001.mkv'), join(dir, 'log0001.mkv'));
    assert.equal(await lib.resolveSegment(join(dir, 'log0001.mkv')), join(dir, 'log0001.mkv'));
    const thumb = readdirSync(dir).find((n) => n.startsWith('log0001_')) as string;
    assert.equal(await lib.resolveThumbnail(thumb), join(dir, thumb));
    assert.equal(await lib.resolveThumbnail(join(dir, thumb)), join(dir, thumb));
    assert.equal(await lib.resolveThumbnail('log0001.mkv'), join(dir, thumb), 'segment name gives its thumbnail');

    // Symlinks: one pointing out of the folder, one pointing at a segment inside.
    writeFileSync(join(outsideDir.dir, 'secret.mkv'), 'secret');
    symlinkSync(join(outsideDir.dir, 'secret.mkv'), join(dir, 'log0007.mkv'));
    symlinkSync(join(outsideDir.dir, 'secret.mkv'), join(dir, 'log0007_1700000000.jpg'));
    symlinkSync(join(dir, 'log0000.mkv'), join(dir, 'log0008.mkv'));
    mkdirSync(join(dir, 'sub'));
    copyFileSync(join(dir, 'log0000.mkv'), join(dir, 'sub', 'log0000.mkv'));
    symlinkSync(outsideDir.dir, join(dir, 'linkdir'));

    const refusedSegments = [
      '',
      '..',
      '.',
      '../log0001.mkv',
      'sub/log0000.mkv',
      'linkdir/secret.mkv',
      './log0001.mkv',
      '/etc/passwd',
      '/etc/log0001.mkv',
      `${dir}/../log0001.mkv`,
      `${dir}/./log0001.mkv`,
      `${dir}/sub/log0000.mkv`,
      `${dir}//log0001.mkv`,
      `${dir}/log0001.mkv/`, // regression: a trailing slash once resolved to the file
      'log0001.mkv\0.jpg',
      'log0001.mkv\0',
      '%2e%2e%2flog0001.mkv',
      '..%2flog0001.mkv',
      '%2E%2E/log0001.mkv',
      'log0001%2emkv',
      '%6cog0001.mkv',
      '..\\log0001.mkv',
      'log0001.mkv\\',
      'log0001.mp4',
      'log0001.MKV',
      'log0001.mkv.jpg',
      'log1.mkv',
      'log00001.mkv',
      'passwd',
      thumb,
      'log0007.mkv',
      `${outsideDir.dir}/secret.mkv`,
      'log0008.mkv', // any link is refused, even one to a segment inside: the file is opened without following links
    ];
    for (const bad of refusedSegments) {
      await assert.rejects(
        lib.resolveSegment(bad),
        (e: unknown) => hasCode(e, 'ERR_PATH_OUTSIDE'),
        `segment ${JSON.stringify(bad)} must be refused`,
      );
    }
    const refusedThumbs = [
      '../x.jpg',
      'log0001_1.png',
      'log0001_1.jpg\0',
      '%2e%2e%2flog0001_1.jpg',
      'log0007_1700000000.jpg',
      '/etc/log0001_1.jpg',
      'sub/log0001_1.jpg',
    ];
    for (const bad of refusedThumbs) {
      await assert.rejects(
        lib.resolveThumbnail(bad),
        (e: unknown) => hasCode(e, 'ERR_PATH_OUTSIDE'),
        `thumbnail ${JSON.stringify(bad)} must be refused`,
      );
    }
    for (const missing of ['log0009.mkv', join(dir, 'log0009.mkv')]) {
      await assert.rejects(
        lib.resolveSegment(missing),
        (e: unknown) => hasCode(e, 'ERR_NOT_FOUND'),
        `${missing} is not found`,
      );
    }
    await assert.rejects(lib.resolveThumbnail('log0009_1.jpg'), (e: unknown) => hasCode(e, 'ERR_NOT_FOUND'));
    await assert.rejects(lib.resolveThumbnail('log0009.mkv'), (e: unknown) => hasCode(e, 'ERR_NOT_FOUND'));
    // Deleting and downloading go through the same checks.
    await assert.rejects(lib.remove('../log0001.mkv'), (e: unknown) => hasCode(e, 'ERR_PATH_OUTSIDE'));
    await assert.rejects(lib.openSegment('log0007.mkv'), (e: unknown) => hasCode(e, 'ERR_PATH_OUTSIDE'));
    await assert.rejects(lib.openMp4('/etc/log0001.mkv'), (e: unknown) => hasCode(e, 'ERR_PATH_OUTSIDE'));
    assert.ok(existsSync(join(outsideDir.dir, 'secret.mkv')));
    // The listing never shows links or folders.
    assert.deepEqual(
      (await lib.list()).map((r) => r.name),
      ['log0000.mkv', 'log0001.mkv'],
    );
  } finally {
    cleanup();
    outsideDir.cleanup();
  }
});

test('remove deletes a segment with its thumbnail; removeAll spares the segment being recorded', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    await record(dir, 3);
    let current = join(dir, 'log0002.mkv');
    const lib = new RecordingLibrary(dir, { isRecording: (p) => p === current });
    await lib.remove('log0000.mkv');
    assert.ok(!readdirSync(dir).some((n) => n.startsWith('log0000')), 'segment and thumbnail gone');
    await assert.rejects(lib.remove('log0002.mkv'), (e: unknown) => hasCode(e, 'ERR_SEGMENT_IN_PROGRESS'));
    const listed = await lib.list();
    assert.equal(listed.find((r) => r.name === 'log0002.mkv')?.inProgress, true);
    assert.equal(listed.find((r) => r.name === 'log0002.mkv')?.durationMs, null);
    assert.equal(await lib.removeAll(), 1);
    assert.deepEqual(
      (await lib.list()).map((r) => r.name),
      ['log0002.mkv'],
    );
    current = '';
    assert.equal(await lib.removeAll(), 1);
    assert.deepEqual(
      readdirSync(dir).filter((n) => !n.startsWith('.')),
      [],
    );
  } finally {
    cleanup();
  }
});
