/**
 * `rearview videos sync|download` against a real `rearview serve`: overall
 * progress as JSON lines on stderr (`--progress json`), no Node warning
 * however many chunks a download takes, and the destination folder created
 * (or named in a one-line error when a file is in the way).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { makeRecordings } from '../api/api-harness.js';
import { scratchDir } from '../support/paths.js';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { ExitCode } from '../../src/cli/exit-codes.js';
import type { ProgressEvent } from '../../src/cli/transfer-progress.js';
import { runCli } from './cli-run.js';

/** A segment big enough for many chunks, so many waits for the file stream to drain. */
const BIG_BYTES = 8 * 1024 * 1024;

let serve: ServeProcess;
let recordings: { dir: string; cleanup: () => void };
let camera: string;
const sizes: Record<string, number> = {};

before(async () => {
  recordings = scratchDir();
  makeRecordings(recordings.dir, 2);
  // A sparse file: 8 MiB to transfer, almost nothing on disk.
  const fd = openSync(join(recordings.dir, 'log0003.mkv'), 'w');
  writeSync(fd, Buffer.from('1a45dfa3', 'hex'));
  ftruncateSync(fd, BIG_BYTES);
  closeSync(fd);
  for (const name of ['log0001.mkv', 'log0002.mkv', 'log0003.mkv'])
    sizes[name] = statSync(join(recordings.dir, name)).size;
  serve = await startServe(['--recordings', recordings.dir, '--bind', '127.0.0.1'], { waitForApi: true });
  camera = `127.0.0.1:${serve.apiPort}`;
});

after(async () => {
  await serve.close();
  recordings.cleanup();
});

function progressLines(stderr: string): ProgressEvent[] {
  assert.doesNotMatch(stderr, /Warning/, 'no Node warning on stderr');
  return stderr
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as ProgressEvent);
}

test('sync --progress json: files and bytes of the whole run, one JSON object a line', async () => {
  const out = scratchDir();
  try {
    const dest = join(out.dir, 'rides');
    const r = await runCli(['videos', 'sync', dest, '--camera', camera, '--progress', 'json', '--json'], {
      env: { NODE_OPTIONS: '--trace-warnings' },
    });
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { downloaded: string[]; bytesTransferred: number };
    const total = Object.values(sizes).reduce((a, b) => a + b, 0);
    assert.deepEqual(summary.downloaded, ['log0001.mkv', 'log0002.mkv', 'log0003.mkv']);
    assert.equal(summary.bytesTransferred, total);

    const events = progressLines(r.stderr);
    assert.deepEqual(events[0], { event: 'plan', filesDone: 0, filesTotal: 3, bytesDone: 0, bytesTotal: total });
    assert.deepEqual(events.at(-1), { event: 'end', filesDone: 3, filesTotal: 3, bytesDone: total, bytesTotal: total });
    // Each file: start, then bytes events, then finish, in list order.
    const perFile = events
      .filter((e) => e.event === 'start' || e.event === 'finish')
      .map((e) => `${e.event} ${e.file} ${e.fileBytes}`);
    assert.deepEqual(perFile, [
      'start log0001.mkv 0',
      `finish log0001.mkv ${sizes['log0001.mkv']}`,
      'start log0002.mkv 0',
      `finish log0002.mkv ${sizes['log0002.mkv']}`,
      'start log0003.mkv 0',
      `finish log0003.mkv ${BIG_BYTES}`,
    ]);
    const finishes = events.filter((e) => e.event === 'finish');
    assert.deepEqual(
      finishes.map((e) => [e.ok, e.filesDone]),
      [
        [true, 1],
        [true, 2],
        [true, 3],
      ],
    );
    // The big file reports its way through: at most one line per percent of the run, never backwards.
    const bytes = events.filter((e) => e.event === 'bytes');
    assert.ok(bytes.length >= 10 && bytes.length <= 101, `${bytes.length} bytes events`);
    assert.ok(
      events.every((e, i) => i === 0 || e.bytesDone >= (events[i - 1] as ProgressEvent).bytesDone),
      'overall bytes never go back',
    );
    assert.ok(bytes.every((e) => e.bytesDone <= total && e.filesTotal === 3));
    assert.equal(statSync(join(dest, 'log0003.mkv')).size, BIG_BYTES);

    // Nothing new: the plan says so and the run ends at once.
    const again = await runCli(['videos', 'sync', dest, '--camera', camera, '--progress', 'json']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      progressLines(again.stderr).map((e) => [e.event, e.filesTotal, e.bytesTotal]),
      [
        ['plan', 0, 0],
        ['end', 0, 0],
      ],
    );
    assert.match(again.stdout, /^synced 0 new \(0 B\), 3 already there\n$/);
  } finally {
    out.cleanup();
  }
});

test('download: a missing folder is created; no warning however many chunks', async () => {
  const out = scratchDir();
  try {
    const dest = join(out.dir, 'new', 'deeper');
    const r = await runCli(['videos', 'download', 'log0003.mkv', 'log0001', '-o', dest, '--camera', camera], {
      env: { NODE_OPTIONS: '--trace-warnings' },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'nothing on stderr: no progress off a terminal, no warning');
    assert.equal(statSync(join(dest, 'log0003.mkv')).size, BIG_BYTES);
    assert.deepEqual(readFileSync(join(dest, 'log0001.mkv')), readFileSync(join(recordings.dir, 'log0001.mkv')));

    const json = await runCli([
      'videos',
      'download',
      'log0002.mkv',
      '-o',
      dest,
      '--camera',
      camera,
      '--progress',
      'json',
    ]);
    assert.equal(json.code, 0, json.stderr);
    const events = progressLines(json.stderr);
    assert.deepEqual(events[0], {
      event: 'plan',
      filesDone: 0,
      filesTotal: 1,
      bytesDone: 0,
      bytesTotal: sizes['log0002.mkv'],
    });
    assert.equal(events.at(-1)?.event, 'end');
    assert.equal(events.at(-1)?.bytesDone, sizes['log0002.mkv']);
  } finally {
    out.cleanup();
  }
});

test('a destination that is a regular file: one line naming it, exit 5', async () => {
  const out = scratchDir();
  try {
    const file = join(out.dir, 'rides');
    writeFileSync(file, 'x');
    for (const args of [
      ['videos', 'download', 'log0001.mkv', '-o', file],
      ['videos', 'sync', file],
    ]) {
      const r = await runCli([...args, '--camera', camera]);
      assert.equal(r.code, ExitCode.IO, r.stderr);
      assert.equal(r.stderr, `rearview: ${file}: not a folder (a file of that name is in the way)\n`);
    }
    assert.equal(readFileSync(file, 'utf8'), 'x');
  } finally {
    out.cleanup();
  }
});

test('--progress takes auto, json or none', async () => {
  const r = await runCli(['videos', 'sync', 'x', '--camera', camera, '--progress', 'bars']);
  assert.equal(r.code, ExitCode.USAGE);
  assert.equal(r.stderr, 'rearview: --progress: expected auto, json, none, got "bars"\n');
});
