/**
 * Names cycle through the file limit (lesson 3: log0000..log0899 for 900
 * files), skipping numbers held by protected segments; a limit changed at run
 * time renames and overwrites nothing. A thumbnail finished while its segment
 * is being wiped is not left behind (its ffmpeg is held back by a gate until
 * the wipe is done). Real recorder, real files, real ffmpeg.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Recorder } from '../../src/recorder/recorder.js';
import { RecordingLibrary } from '../../src/recorder/recording-library.js';
import { removeOrphanThumbnails } from '../../src/recorder/retention.js';
import { ThumbnailMaker } from '../../src/recorder/thumbnails.js';
import { samplePath } from '../hub/access-units.js';
import { scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { waitFor } from '../support/wait.js';
import { HubFeeder, noLimits } from './recording-fixtures.js';

/** Pushes `seconds` of video in 0.5 s steps, letting the recorder catch up (as fast as it can, not real time). */
async function feed(feeder: HubFeeder, recorder: Recorder, seconds: number): Promise<void> {
  for (let i = 0; i < seconds * 2; i++) {
    feeder.push(15);
    await recorder.flush();
  }
}

const mkvs = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.mkv'))
    .sort();

/** Inode and size of each segment: a rename or an overwrite would change one of them. */
const identities = (dir: string): Map<string, string> =>
  new Map(
    mkvs(dir).map((n) => {
      const s = statSync(join(dir, n));
      return [n, `${s.ino}:${s.size}`];
    }),
  );

test('names wrap at maxFiles, skip a protected number, and a changed limit renames or overwrites nothing', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const feeder = HubFeeder.ofFile(samplePath);
    let protectOne = false;
    const recorder = new Recorder({
      hub: feeder.hub,
      dir,
      segmentMs: 1000,
      limits: { ...noLimits, maxFiles: 3 },
      retention: { isProtected: (name) => protectOne && name === 'log0001.mkv' },
      retentionIntervalMs: 0,
      thumbnails: false,
    });
    await recorder.start();
    await feed(feeder, recorder, 2.5); // log0000, log0001 finished, log0002 recording
    protectOne = true;
    const protectedFile = identities(dir).get('log0001.mkv');
    await feed(feeder, recorder, 3);
    // The cycle is log0000..log0002: the 4th segment took log0000 again, the 5th skipped the
    // protected log0001, the 6th took log0000 again.
    assert.deepEqual(mkvs(dir), ['log0000.mkv', 'log0001.mkv', 'log0002.mkv']);
    assert.equal(identities(dir).get('log0001.mkv'), protectedFile, 'the protected segment is untouched');
    assert.equal(recorder.lastSegment, 'log0000.mkv');
    const lib = new RecordingLibrary(dir, {
      isRecording: (p) => p === recorder.currentSegmentPath,
      lastSegment: () => recorder.lastSegment,
    });
    assert.equal((await lib.list()).at(-1)?.name, 'log0000.mkv', 'the segment being written ends the order');

    // Raised limit: the cycle becomes log0000..log0004; numbers still held are skipped.
    await recorder.flush();
    const before = identities(dir);
    const current = recorder.status.currentSegment;
    await recorder.setLimits({ maxFiles: 5 });
    await feed(feeder, recorder, 2);
    assert.deepEqual(mkvs(dir), ['log0000.mkv', 'log0001.mkv', 'log0002.mkv', 'log0003.mkv', 'log0004.mkv']);
    for (const [name, id] of before)
      if (name !== current) assert.equal(identities(dir).get(name), id, `${name} kept as it was`);

    // Lowered limit: old segments are rotated away by the rule, the rest keep their names.
    await recorder.flush();
    const kept = identities(dir);
    await recorder.setLimits({ maxFiles: 2 });
    await recorder.close();
    const after = identities(dir);
    assert.ok(after.size <= 3, `${[...after.keys()]}`);
    assert.ok(after.has('log0001.mkv'), 'the protected segment stays');
    for (const [name, id] of after)
      if (name !== recorder.status.currentSegment && kept.get(name) !== undefined && name !== 'log0004.mkv')
        assert.equal(id, kept.get(name), `${name} not rewritten`);
  } finally {
    cleanup();
  }
});

test('names stay within log0000..log(maxFiles-1) over several laps, and numbering continues after a restart', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    const feeder = HubFeeder.ofFile(samplePath);
    const options = {
      hub: feeder.hub,
      dir,
      segmentMs: 1000,
      limits: { ...noLimits, maxFiles: 4 },
      retentionIntervalMs: 0,
      thumbnails: false as const,
    };
    let recorder = new Recorder(options);
    await recorder.start();
    await feed(feeder, recorder, 9.5); // 10 segments: log0000..log0003 twice, then log0000, log0001
    await recorder.close();
    assert.deepEqual(mkvs(dir), ['log0000.mkv', 'log0001.mkv', 'log0002.mkv', 'log0003.mkv']);
    assert.equal(recorder.lastSegment, 'log0001.mkv');
    // A full cycle has no gap to find the end by: the saved state says where numbering goes on.
    recorder = new Recorder(options);
    await recorder.start();
    await feed(feeder, recorder, 1.5);
    assert.equal(recorder.status.currentSegment, 'log0002.mkv');
    await recorder.close();
    const order = (await new RecordingLibrary(dir).list()).map((r) => r.name);
    assert.deepEqual(order, ['log0003.mkv', 'log0000.mkv', 'log0001.mkv', 'log0002.mkv'], 'recording order');
  } finally {
    cleanup();
  }
});

test('a thumbnail finished after its segment was wiped is not left behind', async () => {
  const { dir, cleanup } = scratchDir();
  const tools = scratchDir();
  try {
    // ffmpeg behind a gate: each thumbnail waits until the gate file exists (a real child process).
    const gate = join(tools.dir, 'gate');
    const wrapper = join(tools.dir, 'gated-ffmpeg');
    writeFileSync(
      wrapper,
      `#!/bin/sh\nwhile [ ! -e '${gate}' ]; do sleep 0.02; done\nexec '${requireTool('ffmpeg')}' "$@"\n`,
    );
    chmodSync(wrapper, 0o755);
    const maker = new ThumbnailMaker({ ffmpegPath: wrapper });
    const feeder = HubFeeder.ofFile(samplePath);
    const recorder = new Recorder({
      hub: feeder.hub,
      dir,
      segmentMs: 1000,
      limits: noLimits,
      retentionIntervalMs: 0,
      thumbnails: maker,
    });
    await recorder.start();
    await feed(feeder, recorder, 2.5); // log0000's thumbnail waits at the gate; log0002 is being written
    assert.deepEqual(mkvs(dir), ['log0000.mkv', 'log0001.mkv', 'log0002.mkv']);
    const lib = new RecordingLibrary(dir, { isRecording: (p) => p === recorder.currentSegmentPath });
    assert.equal(await lib.removeAll(), 2);
    writeFileSync(gate, '');
    await recorder.thumbnailsIdle();
    await waitFor(() => maker.stats.made + maker.stats.discarded + maker.stats.failed >= 2, 'both thumbnail jobs');
    const jpgs = readdirSync(dir).filter((n) => n.endsWith('.jpg'));
    assert.deepEqual(
      jpgs.map((n) => n.slice(0, 7)),
      ['log0002'],
      'only the thumbnail of the segment being written is left',
    );
    assert.equal(maker.stats.discarded, 1, 'the wiped segment s thumbnail was taken back');
    await recorder.close();

    // Orphans left by anything else (an older version) go at the next start.
    writeFileSync(join(dir, 'log0042_1713198307.jpg'), 'x');
    assert.deepEqual(await removeOrphanThumbnails(dir), ['log0042_1713198307.jpg']);
    assert.equal(existsSync(join(dir, 'log0042_1713198307.jpg')), false);
  } finally {
    cleanup();
    tools.cleanup();
  }
});
