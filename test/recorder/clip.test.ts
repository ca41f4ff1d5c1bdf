/**
 * Clips by wall-clock time: planning (bad input, gaps, a change of size)
 * and the export through the converter worker across three joins of 2 s
 * segments, checked with ffprobe/ffmpeg: no decode error, the duration of
 * the request plus the lead-in to within one frame, and exactly the
 * segments' frames (framemd5), none duplicated or missing at a join.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hasCode } from '../../src/errors.js';
import { ClipExporter, groupRides, JOIN_TOLERANCE_MS, planClip } from '../../src/recorder/clip-export.js';
import { ConvertPool } from '../../src/recorder/convert-pool.js';
import { RecordingLibrary, type RecordingInfo } from '../../src/recorder/recording-library.js';
import { samplePath } from '../hub/access-units.js';
import { scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { decodeErrors, HubFeeder, recordFrames } from './recording-fixtures.js';

const T0 = Date.UTC(2026, 11, 3, 8, 14, 0);
const FRAME_MS = 1000 / 30;

function seg(name: string, startS: number, durS: number, extra: Partial<RecordingInfo> = {}): RecordingInfo {
  return {
    name,
    path: `/x/${name}`,
    startedAtMs: T0 + startS * 1000,
    durationMs: durS * 1000,
    sizeBytes: 1000,
    modifiedAtMs: 0,
    width: 1280,
    height: 720,
    thumbnail: null,
    inProgress: false,
    protected: false,
    ...extra,
  };
}

test('planClip: bad ranges are 400 with the reason, stretches without recording 409 naming them', () => {
  const list = [seg('log0000.mkv', 0, 60), seg('log0001.mkv', 60, 60), seg('log0002.mkv', 200, 60)];
  const opts = { maxMs: 3_600_000, nowMs: T0 + 1_000_000 };
  const at = (s: number): number => T0 + s * 1000;
  assert.deepEqual(
    planClip(list, at(30), at(90), opts).segments.map((s) => s.name),
    ['log0000.mkv', 'log0001.mkv'],
  );
  const bad = (from: number, to: number, code: 'ERR_API_BAD_REQUEST' | 'ERR_CLIP_GAP', re: RegExp, o = opts): void =>
    assert.throws(
      () => planClip(list, from, to, o),
      (err) => hasCode(err, code) && re.test(String(err)),
    );
  bad(at(50), at(40), 'ERR_API_BAD_REQUEST', /must be after/);
  bad(at(50), at(50), 'ERR_API_BAD_REQUEST', /must be after/);
  bad(at(0), at(100), 'ERR_API_BAD_REQUEST', /at most 60 s/, { ...opts, maxMs: 60_000 });
  bad(at(-500), at(-400), 'ERR_API_BAD_REQUEST', /no recording between/);
  bad(at(100), at(250), 'ERR_CLIP_GAP', /no recording from 2026-12-03T08:16:00.000Z to 2026-12-03T08:17:20.000Z/);
  bad(at(-10), at(10), 'ERR_CLIP_GAP', /recording starts at/);
  bad(at(250), at(280), 'ERR_CLIP_GAP', /recording ends at/);
  // A gap up to the tolerance (a GOP dropped at a cut) is one recording.
  const small = [seg('log0000.mkv', 0, 10), seg('log0001.mkv', 10 + (JOIN_TOLERANCE_MS - 1) / 1000, 10)];
  assert.equal(planClip(small, at(5), at(15), opts).segments.length, 2);
  const resized = [seg('log0000.mkv', 0, 10), seg('log0001.mkv', 10, 10, { width: 640, height: 360 })];
  assert.throws(
    () => planClip(resized, at(5), at(15), opts),
    (err) => hasCode(err, 'ERR_CLIP_GAP') && /changes size/.test(String(err)),
  );
  // Rides: the same rule.
  assert.deepEqual(
    groupRides(list, opts.nowMs).map((r) => r.segments.map((s) => s.name)),
    [['log0000.mkv', 'log0001.mkv'], ['log0002.mkv']],
  );
});

let scratch: { dir: string; cleanup: () => void };
let pool: ConvertPool;
before(async () => {
  scratch = scratchDir('rearview-clip-');
  // 8 s at exactly 30 fps in 2 s segments (the sample has a keyframe every 30 frames).
  await recordFrames(HubFeeder.ofFile(samplePath, 30, T0), scratch.dir, 240, { segmentMs: 2000 });
  pool = new ConvertPool();
});
after(async () => {
  await pool.close();
  scratch.cleanup();
});

/** One MD5 per decoded frame (ffmpeg framemd5). */
function frameHashes(path: string): string[] {
  const r = spawnSync(requireTool('ffmpeg'), ['-v', 'error', '-i', path, '-f', 'framemd5', '-'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(',').pop()?.trim() as string);
}

function probeTags(path: string): { duration: number; creation: string; comment: string; frames: number } {
  const r = spawnSync(
    requireTool('ffprobe'),
    [
      '-v',
      'error',
      '-count_packets',
      '-show_entries',
      'format=duration:format_tags:stream=nb_read_packets',
      '-of',
      'json',
      path,
    ],
    { encoding: 'utf8' },
  );
  const j = JSON.parse(r.stdout) as {
    format: { duration: string; tags?: Record<string, string> };
    streams: { nb_read_packets: string }[];
  };
  return {
    duration: Number(j.format.duration),
    creation: j.format.tags?.creation_time ?? '',
    comment: j.format.tags?.comment ?? '',
    frames: Number(j.streams[0]?.nb_read_packets),
  };
}

test('a clip across three joins: no decode error, request + lead-in to within a frame, every frame once', async () => {
  const library = new RecordingLibrary(scratch.dir);
  const list = await library.list();
  assert.equal(list.length, 4, 'four 2 s segments');
  const exporter = new ClipExporter(library, { maxMs: () => 3_600_000, now: () => T0 + 60_000, pool: () => pool });
  // From 1.5 s (keyframe at 1.0 s: 500 ms of lead-in) to 7.2 s, in the fourth segment.
  const fromMs = T0 + 1500;
  const toMs = T0 + 7200;
  const plan = await exporter.plan(fromMs, toMs);
  assert.equal(plan.segments.length, 4);
  const chunks: Uint8Array[] = [];
  let startMs: number | undefined;
  const result = await exporter.export(
    plan,
    async (c) => {
      assert.ok(startMs !== undefined, 'the start is known before the first byte');
      chunks.push(c);
    },
    (ms) => {
      startMs = ms;
    },
  );
  assert.equal(startMs, T0 + 1000, 'starts at the keyframe at or before "from"');
  assert.equal(result.joins, 3);
  const out = join(scratch.dir, 'clip.mp4');
  writeFileSync(out, Buffer.concat(chunks));
  assert.equal(decodeErrors(out), '', 'ffmpeg decodes the clip without an error');

  const p = probeTags(out);
  const expectedS = (toMs - (T0 + 1000)) / 1000; // the request plus the lead-in
  assert.ok(Math.abs(p.duration - expectedS) <= FRAME_MS / 1000 + 1e-6, `duration ${p.duration} s vs ${expectedS} s`);
  assert.equal(p.frames, 186, '6.2 s at 30 fps');
  // Capture time: the creation time (seconds) and the comment (milliseconds).
  assert.equal(p.creation, '2026-12-03T08:14:01.000000Z');
  assert.equal(p.comment, 'rearview capture start 2026-12-03T08:14:01.000Z');

  // Exactly the segments' frames 30..215: nothing duplicated or missing at the joins.
  const all = list.flatMap((r) => frameHashes(r.path));
  assert.equal(all.length, 240);
  assert.deepEqual(frameHashes(out), all.slice(30, 30 + 186));
});

test('a segment the worker cannot read fails the export with ERR_CONVERT, never an empty file', async () => {
  await assert.rejects(
    pool.exportClip(
      {
        fromMs: T0,
        toMs: T0 + 1000,
        segments: [{ path: join(scratch.dir, 'missing.mkv'), name: 'missing.mkv', startedAtMs: T0 }],
      },
      async () => undefined,
    ),
    (err) => hasCode(err, 'ERR_CONVERT') && /missing\.mkv/.test(String(err)),
  );
});

test('a clip whose client left stops at once and frees the converter for the next one', async () => {
  const library = new RecordingLibrary(scratch.dir);
  const exporter = new ClipExporter(library, { maxMs: () => 3_600_000, now: () => T0 + 60_000, pool: () => pool });
  const plan = await exporter.plan(T0 + 100, T0 + 7900);
  const abort = new AbortController();
  let chunks = 0;
  await assert.rejects(
    exporter.export(
      plan,
      async () => {
        chunks++;
        abort.abort(); // the client went away after the first bytes
      },
      undefined,
      abort.signal,
    ),
    (err) => hasCode(err, 'ERR_ABORTED'),
  );
  assert.ok(chunks >= 1);
  const again: Uint8Array[] = [];
  const r = await exporter.export(await exporter.plan(T0 + 1500, T0 + 3500), async (c) => {
    again.push(c);
  });
  assert.equal(r.joins, 1);
});
