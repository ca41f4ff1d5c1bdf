/**
 * Rotation and disk trouble: file and byte limits, free space (an injected
 * probe and a real 8 MB tmpfs), a full disk (ENOSPC), a read-only remount and
 * the folder deleted underneath. The recorder must report, retry and carry
 * on, never throw.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  statfsSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Logger } from '../../src/log/logger.js';
import { Recorder } from '../../src/recorder/recorder.js';
import {
  deletionOrder,
  enforceRetention,
  listSegmentFiles,
  newestSegmentNumber,
  readFolderListing,
  removeSegmentFiles,
  type DiskSpaceFn,
  type SegmentFile,
  type UploadState,
} from '../../src/recorder/retention.js';
import { segmentName } from '../../src/recorder/segment-names.js';
import { samplePath } from '../hub/access-units.js';
import { scratchDir } from '../support/paths.js';
import { decodeErrors, HubFeeder, probe, noLimits } from './recording-fixtures.js';

/** Pushes `seconds` of video in 0.5 s steps, letting the recorder catch up (as fast as it can, not real time). */
async function feed(feeder: HubFeeder, recorder: Recorder, seconds: number, thumbs = false): Promise<void> {
  for (let i = 0; i < seconds * 2; i++) {
    feeder.push(15);
    await recorder.flush();
    if (thumbs) await recorder.thumbnailsIdle();
  }
}

const mkvs = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.mkv'))
    .sort();

/** Fills the filesystem of `dir` to the last byte (a file written until ENOSPC). */
function fillDisk(dir: string): void {
  const fd = openSync(join(dir, 'junk.bin'), 'w');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (let size = block.length; size >= 512; ) {
      try {
        writeSync(fd, block, 0, size);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        size >>= 1; // top up the last partial block
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** A tmpfs of `size` mounted on a fresh folder; cleanup unmounts it. */
function tmpfs(size: string): { dir: string; cleanup: () => void } {
  const scratch = scratchDir('rearview-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', scratch.dir]);
  return {
    dir: scratch.dir,
    cleanup: () => {
      execFileSync('umount', [scratch.dir]);
      scratch.cleanup();
    },
  };
}

test('maxFiles: only the newest segments (and their thumbnails) are kept', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const feeder = HubFeeder.ofFile(samplePath);
    const recorder = new Recorder({
      hub: feeder.hub,
      dir,
      segmentMs: 1000,
      limits: { ...noLimits, maxFiles: 3 },
      retentionIntervalMs: 0,
    });
    await recorder.start();
    await feed(feeder, recorder, 6, true);
    await recorder.close();
    // Names wrap at the file limit: the 4th to 6th segments took log0000..log0002 again.
    assert.deepEqual(mkvs(dir), ['log0000.mkv', 'log0001.mkv', 'log0002.mkv']);
    assert.deepEqual(
      readdirSync(dir)
        .filter((n) => n.endsWith('.jpg'))
        .map((n) => n.slice(0, 7))
        .sort(),
      ['log0000', 'log0001', 'log0002'],
    );
    assert.equal(recorder.status.rotatedSegments, 3);
  } finally {
    cleanup();
  }
});

test('maxBytes and free space: oldest first, never the protected one', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const t0 = Date.now() / 1000 - 100;
    for (let i = 0; i < 6; i++) {
      const p = join(dir, segmentName(i));
      writeFileSync(p, Buffer.alloc(1000));
      writeFileSync(join(dir, `log000${i}_${1700000000 + i}.jpg`), 'j');
      utimesSync(p, t0 + i, t0 + i);
    }
    // Bytes: 6000 > 3500, the oldest (log0000) is protected as if being written.
    let r = await enforceRetention(dir, { ...noLimits, maxBytes: 3500 }, { inProgress: new Set(['log0000.mkv']) });
    assert.deepEqual(r.deleted, ['log0001.mkv', 'log0002.mkv', 'log0003.mkv']);
    assert.deepEqual(mkvs(dir), ['log0000.mkv', 'log0004.mkv', 'log0005.mkv']);
    assert.ok(!readdirSync(dir).some((n) => n.startsWith('log0001_')), 'thumbnail deleted with its segment');
    // Free space from an injected probe: a 10 kB disk whose free space is what the segments leave.
    const disk: DiskSpaceFn = async (d) => ({ diskBytes: 10_000, freeBytes: 10_000 - 4000 - mkvs(d).length * 1000 });
    r = await enforceRetention(dir, { ...noLimits, minFreePercent: 40 }, { diskSpace: disk });
    assert.deepEqual(r.deleted, ['log0000.mkv'], '3000 used + 4000 other = 3000 free < 4000: one segment goes');
    r = await enforceRetention(
      dir,
      { ...noLimits, minFreeBytes: 9000 },
      { diskSpace: disk, inProgress: new Set(['log0005.mkv']) },
    );
    assert.deepEqual(r.deleted, ['log0004.mkv']);
    assert.equal(r.stillOver, true, 'only the protected segment is left');
    assert.deepEqual(mkvs(dir), ['log0005.mkv']);
  } finally {
    cleanup();
  }
});

test('min free space on a real 8 MB tmpfs: rotation keeps the free space, segments stay whole', async () => {
  const fs = tmpfs('8m');
  let recorder: Recorder | undefined;
  try {
    const feeder = HubFeeder.ofFile(samplePath);
    const minFree = 5_000_000;
    recorder = new Recorder({
      hub: feeder.hub,
      dir: fs.dir,
      segmentMs: 2000,
      limits: { ...noLimits, minFreeBytes: minFree },
      thumbnails: false,
      retentionIntervalMs: 0,
    });
    await recorder.start();
    await feed(feeder, recorder, 40); // about 4.8 MB of video: more than the 3 MB allowed
    const freeBeforeClose = statfsSync(fs.dir).bavail * statfsSync(fs.dir).bsize;
    await recorder.close();
    assert.equal(recorder.status.errors, 0, JSON.stringify(recorder.status.lastError));
    assert.ok(recorder.status.rotatedSegments > 0, 'segments were rotated');
    // Checked at each cut: below the floor by at most the segment being written (2 s, about 250 kB).
    assert.ok(freeBeforeClose >= minFree - 400_000, `free ${freeBeforeClose}`);
    const left = mkvs(fs.dir);
    assert.equal(left[left.length - 1], 'log0019.mkv');
    for (const name of left) assert.equal(decodeErrors(join(fs.dir, name)), '', name);
  } finally {
    await recorder?.close();
    fs.cleanup();
  }
});

test('ENOSPC with nothing left to delete: reported and retried, never thrown; recording resumes when space returns', async () => {
  const fs = tmpfs('4m');
  let recorder: Recorder | undefined;
  try {
    const junk = join(fs.dir, 'junk.bin');
    writeFileSync(junk, Buffer.alloc(4 * 1024 * 1024 - 200 * 1024));
    let nowMs = Date.now();
    const feeder = HubFeeder.ofFile(samplePath);
    // One long segment: when the disk fills, the only segment is the one cut, which is never deleted.
    recorder = new Recorder({
      hub: feeder.hub,
      dir: fs.dir,
      segmentMs: 60_000,
      limits: noLimits,
      thumbnails: false,
      retentionIntervalMs: 0,
      now: () => nowMs,
    });
    await recorder.start();
    await feed(feeder, recorder, 4);
    const st = recorder.status;
    assert.equal(st.lastError?.code, 'ENOSPC', JSON.stringify(st.lastError));
    assert.equal(st.state, 'retrying');
    assert.ok(st.framesSkipped > 0);
    rmSync(junk);
    nowMs += 60_000; // past any backoff
    await feed(feeder, recorder, 3);
    assert.equal(recorder.status.state, 'recording');
    await recorder.close();
    const left = mkvs(fs.dir);
    const newest = left[left.length - 1] as string;
    assert.ok(probe(join(fs.dir, newest)).frames >= 30, `${newest} recorded after the disk had room again`);
    // Regression: a segment that hit ENOSPC before its first frame was "repaired" into a header-only file
    // that ffmpeg rejects ("End of file"); frameless leftovers are now deleted.
    for (const name of left)
      assert.equal(decodeErrors(join(fs.dir, name)), '', `${name} (written until the disk filled) still plays`);
  } finally {
    await recorder?.close();
    fs.cleanup();
  }
});

test('read-only remount and a deleted folder: reported, retried, recording resumes', async () => {
  const fs = tmpfs('16m');
  let recorder: Recorder | undefined;
  try {
    let nowMs = Date.now();
    const dir = join(fs.dir, 'rec');
    mkdirSync(dir);
    const feeder = HubFeeder.ofFile(samplePath);
    // Read-only before the recorder opens anything (a filesystem with files open for writing cannot be remounted).
    execFileSync('mount', ['-o', 'remount,ro', fs.dir]);
    try {
      recorder = new Recorder({
        hub: feeder.hub,
        dir,
        segmentMs: 1000,
        limits: noLimits,
        thumbnails: false,
        retentionIntervalMs: 0,
        now: () => nowMs,
      });
      await recorder.start();
      await feed(feeder, recorder, 2);
      assert.equal(recorder.status.lastError?.code, 'EROFS', JSON.stringify(recorder.status.lastError));
      assert.equal(recorder.status.state, 'retrying');
    } finally {
      execFileSync('mount', ['-o', 'remount,rw', fs.dir]);
    }
    nowMs += 60_000;
    await feed(feeder, recorder, 2);
    assert.equal(recorder.status.state, 'recording');
    const errorsBefore = recorder.status.errors;

    rmSync(dir, { recursive: true });
    await feed(feeder, recorder, 2);
    assert.ok(recorder.status.errors > errorsBefore, 'the deletion was reported');
    assert.equal(recorder.status.lastError?.code, 'ENOENT');
    assert.equal(recorder.status.state, 'recording', 'a new segment in a re-created folder');
    await recorder.close();
    const left = mkvs(dir);
    assert.ok(left.length >= 1);
    for (const name of left) assert.equal(decodeErrors(join(dir, name)), '', name);
  } finally {
    await recorder?.close();
    fs.cleanup();
  }
});

// Regression: removeSegmentFiles read the whole folder for every segment, so deleting 900
// segments (removeAll, a big rotation pass) read 900 × 900 directory entries. A listing read once
// is now passed in; this proves the listing is what is used (a name missing from it is not read).
test('removeSegmentFiles uses a listing read once instead of reading the folder per segment', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(dir, segmentName(i)), Buffer.alloc(10));
      writeFileSync(join(dir, `log000${i}_${1700000000 + i}.jpg`), 'j');
    }
    const listing = await readFolderListing(dir);
    assert.equal(listing.names.length, 6);
    writeFileSync(join(dir, 'log0001_1800000000.jpg'), 'late'); // not in the listing: left alone
    for (let i = 0; i < 3; i++) await removeSegmentFiles(dir, segmentName(i), listing);
    assert.deepEqual(readdirSync(dir), ['log0001_1800000000.jpg']);
    // Without a listing the folder is read (the old behaviour, one segment at a time).
    await removeSegmentFiles(dir, segmentName(1));
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    cleanup();
  }
});

// Regression (F21): segments were ordered by modification time, so a ride recorded while the clock
// was wrong (a Pi without a real-time clock boots in 1970) counted as the oldest: numbering resumed
// in the middle and rotation deleted the newest ride first. Order now follows the numbers.
test('recording order follows the circular numbering, not modification times', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const now = Date.now() / 1000;
    // A wrapped folder: 9997..9999 then 0000..0002; 0001 and 0002 back-dated to 1970.
    for (const n of [9997, 9998, 9999, 0, 1, 2]) {
      const p = join(dir, segmentName(n));
      writeFileSync(p, Buffer.alloc(100));
      utimesSync(
        p,
        n <= 2 && n > 0 ? 1000 + n : now - 100 + (n % 100),
        n <= 2 && n > 0 ? 1000 + n : now - 100 + (n % 100),
      );
    }
    const files = await listSegmentFiles(dir);
    assert.equal(newestSegmentNumber(files), 2);
    assert.deepEqual(
      files.map((f) => f.name),
      ['log9997.mkv', 'log9998.mkv', 'log9999.mkv', 'log0000.mkv', 'log0001.mkv', 'log0002.mkv'],
    );
    const r = await enforceRetention(dir, { ...noLimits, maxFiles: 4 });
    assert.deepEqual(r.deleted, ['log9997.mkv', 'log9998.mkv'], 'the oldest by number went, not the back-dated newest');
    // Two runs (log0001 deleted by hand): the run end modified last is the newest.
    rmSync(join(dir, 'log0001.mkv'));
    assert.equal(newestSegmentNumber(await listSegmentFiles(dir)), 0, 'log0000 (now) is newer than log0002 (1970)');
  } finally {
    cleanup();
  }
});

// The retention rule (docs/recording.md) with protection and uploads supplied as they will be by
// moments and the archive: tier 1 done segments, tier 2 segments queued for upload, never protected
// (within the cap) or in-progress ones.
test('retention order: done first, then queued for upload, never protected or in progress; protection capped', () => {
  const files: SegmentFile[] = [0, 1, 2, 3, 4, 5, 6].map((n) => ({
    name: segmentName(n),
    path: segmentName(n),
    sizeBytes: 100,
    modifiedAtMs: n,
  }));
  const protectedNames = new Set(['log0000.mkv', 'log0003.mkv']);
  const uploads: Record<string, UploadState> = {
    'log0001.mkv': 'queued',
    'log0002.mkv': 'uploaded',
    'log0004.mkv': 'queued',
  };
  const inputs = {
    isProtected: (n: string) => protectedNames.has(n),
    uploadState: (n: string) => uploads[n] ?? 'none',
  };
  const order = (cap?: number): string[] =>
    deletionOrder(files, new Set(['log0006.mkv']), { ...inputs, maxProtectedBytes: cap }).map(
      (c) => `${c.file.name}:${c.reason}${c.overProtectedCap ? '!' : ''}`,
    );
  assert.deepEqual(order(), [
    'log0002.mkv:done',
    'log0005.mkv:done',
    'log0001.mkv:upload-queued',
    'log0004.mkv:upload-queued',
  ]);
  // Cap of one segment: the newest protected (log0003) keeps its protection, log0000 loses it.
  assert.deepEqual(order(100), [
    'log0000.mkv:done!',
    'log0002.mkv:done',
    'log0005.mkv:done',
    'log0001.mkv:upload-queued',
    'log0004.mkv:upload-queued',
  ]);
  // Defaults: unprotected, needing no upload: plain oldest first, the one being written never.
  assert.deepEqual(
    deletionOrder(files, new Set(['log0006.mkv'])).map((c) => c.file.name),
    files.slice(0, 6).map((f) => f.name),
  );
});

test('enforceRetention follows the rule: counts what was deleted before upload, stops short of protected data', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    for (let i = 0; i < 5; i++) writeFileSync(join(dir, segmentName(i)), Buffer.alloc(1000));
    const uploads: Record<string, UploadState> = { 'log0000.mkv': 'queued', 'log0001.mkv': 'uploaded' };
    const options = {
      isProtected: (n: string) => n === 'log0002.mkv',
      uploadState: (n: string) => uploads[n] ?? 'none',
      inProgress: new Set(['log0004.mkv']),
    };
    let r = await enforceRetention(dir, { ...noLimits, maxFiles: 3 }, options);
    assert.deepEqual(r.deleted, ['log0001.mkv', 'log0003.mkv'], 'done segments first, though log0000 is older');
    assert.deepEqual(r.deletedNotUploaded, []);
    r = await enforceRetention(dir, { ...noLimits, maxFiles: 1 }, options);
    assert.deepEqual(r.deleted, ['log0000.mkv'], 'then the one queued for upload');
    assert.deepEqual(r.deletedNotUploaded, ['log0000.mkv']);
    assert.equal(r.stillOver, true, 'the protected and the in-progress segment stay');
    assert.deepEqual(mkvs(dir), ['log0002.mkv', 'log0004.mkv']);
    // Protected data over its cap (0 bytes honoured) is deleted rather than stop recording.
    r = await enforceRetention(dir, { ...noLimits, maxFiles: 1 }, { ...options, maxProtectedBytes: 0 });
    assert.deepEqual(r.deletedOverProtectedCap, ['log0002.mkv']);
    assert.deepEqual(mkvs(dir), ['log0004.mkv']);
  } finally {
    cleanup();
  }
});

// Regression: ENOSPC while creating a segment (the marker, the state file, the header) only
// failed and retried with backoff, never made room: with no limit set, recording stopped for good.
test('ENOSPC while creating a segment on a full tmpfs: the oldest segment is deleted and recording resumes at once', async () => {
  const fs = tmpfs('4m');
  let recorder: Recorder | undefined;
  try {
    const lines: string[] = [];
    const feeder = HubFeeder.ofFile(samplePath);
    recorder = new Recorder({
      hub: feeder.hub,
      dir: fs.dir,
      segmentMs: 1000,
      limits: noLimits,
      thumbnails: false,
      retentionIntervalMs: 0,
      now: () => 0, // the clock never moves: only making room, not the backoff, can bring recording back
      logger: new Logger({ level: 'warn', sink: (l) => lines.push(l) }),
    });
    await recorder.start();
    await feed(feeder, recorder, 3);
    recorder.pause(); // the current segment is finished at the next frame: the next write is a creation
    await feed(feeder, recorder, 0.5);
    const before = mkvs(fs.dir);
    assert.ok(before.length >= 3, before.join());
    fillDisk(fs.dir);
    recorder.resume();
    await feed(feeder, recorder, 3);
    const st = recorder.status;
    assert.equal(st.state, 'recording', JSON.stringify(st.lastError));
    assert.ok(st.diskFullEvents >= 1);
    assert.equal(st.lastError?.code, 'ENOSPC');
    assert.ok(!mkvs(fs.dir).includes(before[0] as string), `${before[0]} made room`);
    assert.ok(
      lines.some((l) => /disk full creating log\d{4}\.mkv: deleted log0000\.mkv\b.*recording again/.test(l)),
      lines.join('\n'),
    );
    await recorder.close();
    const left = mkvs(fs.dir);
    const newest = left[left.length - 1] as string;
    assert.ok(newest > (before[before.length - 1] as string), `${newest} recorded after the disk filled`);
    assert.ok(probe(join(fs.dir, newest)).frames >= 15, `${newest} has frames`);
    for (const name of left) assert.equal(decodeErrors(join(fs.dir, name)), '', name);
  } finally {
    await recorder?.close();
    fs.cleanup();
  }
});

test('a recorder whose segments are all protected rotates only what is past --max-protected', async () => {
  for (const [maxProtected, kept] of [
    [{ percent: 100 }, 5],
    [{ bytes: 0 }, 2],
  ] as const) {
    const { dir, cleanup } = scratchDir();
    try {
      const feeder = HubFeeder.ofFile(samplePath);
      const recorder = new Recorder({
        hub: feeder.hub,
        dir,
        segmentMs: 1000,
        limits: { ...noLimits, maxFiles: 2 },
        thumbnails: false,
        retentionIntervalMs: 0,
        retention: { isProtected: () => true },
        maxProtected,
      });
      await recorder.start();
      await feed(feeder, recorder, 5);
      await recorder.close();
      const left = mkvs(dir).length;
      assert.ok(kept === 2 ? left === 2 : left >= kept, `${JSON.stringify(maxProtected)}: ${left} kept`);
    } finally {
      cleanup();
    }
  }
});
