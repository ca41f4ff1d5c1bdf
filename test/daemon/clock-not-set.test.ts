/**
 * A camera that boots without a real-time clock: a real daemon (sample
 * source, recorder, HTTP API) whose wall clock starts in 1970 (a fake clock)
 * records, says "clock not set", takes a client's time from
 * `POST /api/v1/clock`, says the clock is set, and re-stamps the segments
 * recorded before with their true times (DateUTC, thumbnail names), keeping
 * their modification times.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CameraClient } from '../../src/client/camera-client.js';
import type { ClockSetResult, RecordingsListDocument, StatusDocument } from '../../src/api/wire-types.js';
import type { RecorderService } from '../../src/recorder/recorder-service.js';
import { readMatroskaHeader } from '../../src/recorder/matroska-file.js';
import { parseThumbnailName } from '../../src/recorder/segment-names.js';
import { CameraClock } from '../../src/util/camera-clock.js';
import { runCli } from '../cli/cli-run.js';
import { startDaemonInProcess } from '../support/daemon.js';
import { FakeClock } from '../support/fake-clock.js';
import { waitFor } from '../support/wait.js';

/** What the phone says: 2027-03-04T05:06:07Z. */
const PHONE_MS = Date.UTC(2027, 2, 4, 5, 6, 7);

test('a daemon whose clock says 1970 records, says "clock not set", takes a client\'s time and re-stamps what it recorded', async () => {
  const fake = new FakeClock(0); // the Pi after boot: 1970-01-01T00:00:00Z
  const cameraClock = new CameraClock({
    base: fake,
    // No real-time clock, no network time (the camera's own hotspot).
    probe: async () => ({ ntpSynchronized: false, hasRtc: false }),
  });
  const d = await startDaemonInProcess(
    { record: true, segmentMs: 1000, source: 'sample' },
    { cameraClock, clock: fake.now },
  );
  try {
    const api = `http://127.0.0.1:${d.daemon.apiAddress?.port}`;
    const dir = d.config.recordingsDir;
    const recorder = (d.daemon.services.find((s) => s.name === 'recorder') as RecorderService).recorder;
    // The sample source runs on the fake clock: play it 100 ms at a time, letting the recorder keep up.
    const play = async (ms: number): Promise<void> => {
      for (let t = 0; t < ms; t += 100) {
        fake.advance(100);
        await recorder.flush();
      }
    };
    const mkvs = (): string[] =>
      readdirSync(dir)
        .filter((n) => n.endsWith('.mkv'))
        .sort();
    const jpgs = (): string[] => readdirSync(dir).filter((n) => n.endsWith('.jpg'));

    await play(2600);
    await waitFor(() => mkvs().length >= 3, 'three segments (two finished)');
    await recorder.thumbnailsIdle();

    const before = (await (await fetch(`${api}/api/v1/status`)).json()) as StatusDocument;
    assert.equal(before.clock.set, false);
    assert.equal(before.clock.source, null);
    assert.match(before.clock.reason ?? '', /^clock not set/);
    assert.ok(before.clock.now.startsWith('1970-01-01'), before.clock.now);
    assert.equal(before.recording.state, 'recording', 'it records without a valid clock');

    const first = join(dir, 'log0000.mkv');
    const firstStart = (await readMatroskaHeader(first)).startedAtMs as number;
    assert.ok(firstStart < 10_000, `provisional start in 1970: ${firstStart}`);
    const firstMtimeMs = statSync(first).mtimeMs;
    assert.ok(
      jpgs().some((n) => n.startsWith('log0000_') && (parseThumbnailName(n)?.unixSeconds ?? -1) < 10),
      `a 1970 thumbnail: ${jpgs().join(' ')}`,
    );

    // The phone gives its time; correction = phone time - the provisional time at that moment.
    const correctionMs = PHONE_MS - fake.now();
    const set = await fetch(`${api}/api/v1/clock`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ epochMs: PHONE_MS }),
    });
    assert.equal(set.status, 200);
    const result = (await set.json()) as ClockSetResult;
    assert.equal(result.applied, true);
    assert.equal(result.set, true);
    assert.equal(result.source, 'client');
    assert.equal(result.differenceMs, 0);

    const after = (await (await fetch(`${api}/api/v1/status`)).json()) as StatusDocument;
    assert.deepEqual([after.clock.set, after.clock.source, after.clock.reason], [true, 'client', null]);
    assert.equal(after.clock.now, new Date(PHONE_MS).toISOString());

    // A second client does not move a set clock.
    const again = (await (
      await fetch(`${api}/api/v1/clock`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ epochMs: PHONE_MS + 3_600_000 }),
      })
    ).json()) as ClockSetResult;
    assert.equal(again.applied, false);
    assert.equal(again.differenceMs, -3_600_000);

    await play(1500);
    await recorder.restampIdle();
    await d.daemon.close();

    // Every segment of the run has a true start, in recording order, one frame apart or more.
    const starts: number[] = [];
    for (const name of mkvs()) {
      const start = (await readMatroskaHeader(join(dir, name))).startedAtMs as number;
      assert.ok(start >= PHONE_MS - 3000 && start < PHONE_MS + 3000, `${name} starts ${new Date(start).toISOString()}`);
      starts.push(start);
    }
    assert.ok(mkvs().length >= 4, `segments: ${mkvs().join(' ')}`);
    assert.deepEqual(
      [...starts].sort((a, b) => a - b),
      starts,
      'starts follow the numbers',
    );
    assert.equal((await readMatroskaHeader(first)).startedAtMs, firstStart + correctionMs);
    // Kept to the microsecond (utimes takes seconds as a double); date_updated is whole seconds.
    assert.ok(Math.abs(statSync(first).mtimeMs - firstMtimeMs) < 0.001, 'the modification time is kept');
    // Thumbnails carry the true start in their names; none is left from 1970.
    for (const n of jpgs()) {
      const t = parseThumbnailName(n);
      assert.ok(t && t.unixSeconds * 1000 > PHONE_MS - 4000, `thumbnail ${n}`);
    }
    assert.ok(
      jpgs().includes(`log0000_${Math.floor((firstStart + correctionMs) / 1000)}.jpg`),
      `log0000's thumbnail renamed: ${jpgs().join(' ')}`,
    );
  } finally {
    await d.close();
  }
});

test('the list shows the true start times after the clock is set', async () => {
  const fake = new FakeClock(0);
  const cameraClock = new CameraClock({ base: fake, probe: async () => ({ ntpSynchronized: false, hasRtc: false }) });
  const d = await startDaemonInProcess(
    { record: true, segmentMs: 1000, source: 'sample' },
    { cameraClock, clock: fake.now },
  );
  try {
    const api = `http://127.0.0.1:${d.daemon.apiAddress?.port}`;
    const recorder = (d.daemon.services.find((s) => s.name === 'recorder') as RecorderService).recorder;
    for (let t = 0; t < 1600; t += 100) {
      fake.advance(100);
      await recorder.flush();
    }
    await waitFor(() => readdirSync(d.config.recordingsDir).includes('log0001.mkv'), 'a second segment');
    const list = async (): Promise<RecordingsListDocument> =>
      (await (await fetch(`${api}/api/v1/recordings`)).json()) as RecordingsListDocument;
    await waitFor(
      async () => (await list()).recordings.some((r) => r.name === 'log0000.mkv' && r.durationMs !== null),
      'log0000 finished in the list',
    );
    const old = (await list()).recordings.find((r) => r.name === 'log0000.mkv');
    assert.ok(old?.startedAt?.startsWith('1970-'), old?.startedAt ?? 'no start');

    cameraClock.setFromClient(PHONE_MS);
    await recorder.restampIdle();
    await waitFor(
      async () =>
        (await list()).recordings.find((r) => r.name === 'log0000.mkv')?.startedAt?.startsWith('2027-') ?? false,
      'log0000 listed with its true start',
    );
  } finally {
    await d.close();
  }
});

test('`rearview status` says "clock not set"; the client library sets it; status then says where the time came from', async () => {
  // The system clock, but no real-time clock and no network time: not to be believed.
  const cameraClock = new CameraClock({ probe: async () => ({ ntpSynchronized: false, hasRtc: false }) });
  const d = await startDaemonInProcess({ source: 'sample' }, { cameraClock });
  try {
    const camera = `127.0.0.1:${d.daemon.apiAddress?.port}`;
    const before = await runCli(['status', '--camera', camera]);
    assert.equal(before.code, 0, before.stderr);
    assert.match(before.stdout, /^clock\s+clock not set: no real-time clock and no network time/m);

    const client = new CameraClient(camera);
    const sentMs = Date.now();
    const result = await client.setClock();
    assert.equal(result.applied, true);
    assert.equal(result.source, 'client');
    assert.ok(Math.abs(result.nowMs - sentMs) < 5000);
    assert.equal((await client.setClock(sentMs + 86_400_000)).applied, false, 'the first client wins');

    const after = await runCli(['status', '--camera', camera]);
    assert.match(after.stdout, /^clock\s+\d{4}-\d\d-\d\dT[\d:.]+Z \(set by a client\)$/m);
  } finally {
    await d.close();
  }
});
