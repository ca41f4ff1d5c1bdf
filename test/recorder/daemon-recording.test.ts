/**
 * The recorder inside the real daemon: `rearview serve --recordings DIR
 * --segment 1s` on the sample source (real time, 30 fps), stopped cleanly
 * and killed with SIGKILL.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readMatroskaHeader } from '../../src/recorder/matroska-file.js';
import { parseSegmentName } from '../../src/recorder/segment-names.js';
import { startServe } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import { decodeErrors, probe } from './recording-fixtures.js';

const mkvs = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.mkv'))
    .sort();

function serveArgs(dir: string): string[] {
  return [
    '--stream-port',
    '0',
    '--api-port',
    '0',
    '--no-mdns',
    '--bind',
    '127.0.0.1',
    '--recordings',
    dir,
    '--segment',
    '1s',
    '--log-level',
    'warn',
  ];
}

test('rearview serve records 1 s segments; SIGTERM seals the last one; SIGKILL is repaired and numbering continues', async () => {
  const { dir, cleanup } = scratchDir();
  try {
    // Clean run: stop after three segments are complete.
    let serve = await startServe(serveArgs(dir), { rawArgs: true });
    try {
      await waitFor(() => mkvs(dir).length >= 4, 'four segments', 20_000, 50);
    } finally {
      await serve.close();
    }
    const clean = mkvs(dir);
    for (const name of clean) {
      const path = join(dir, name);
      assert.equal(decodeErrors(path), '', name);
      const p = probe(path);
      assert.ok(p.firstFrameKey, `${name} starts with a keyframe`);
      assert.ok((await readMatroskaHeader(path)).durationMs !== null, `${name} sealed (Duration written)`);
      // One second at 30 fps; fewer only if the reader had to skip (a loaded machine), never more.
      if (name !== clean[clean.length - 1])
        assert.ok(p.frames >= 1 && p.frames <= 30, `${name}: ${p.frames} frames for one second at 30 fps`);
    }
    assert.ok(
      readdirSync(dir).filter((n) => n.endsWith('.jpg')).length >= clean.length - 1,
      'thumbnails beside the segments',
    );

    // Killed runs: each restart repairs the cut segment and numbers on.
    let last = parseSegmentName(clean[clean.length - 1] as string) as number;
    for (let run = 0; run < 3; run++) {
      const before = mkvs(dir).length;
      serve = await startServe(serveArgs(dir), { rawArgs: true });
      try {
        await waitFor(() => mkvs(dir).length >= before + 2, 'two more segments', 20_000, 50);
        serve.process.kill('SIGKILL');
        await serve.exited;
      } finally {
        await serve.close();
      }
      const names = mkvs(dir);
      const fresh = names
        .filter((n) => !clean.includes(n))
        .map((n) => parseSegmentName(n) as number)
        .sort((a, b) => a - b);
      assert.equal(fresh[0], last + 1, `run ${run} continued after log${String(last).padStart(4, '0')}`);
      last = fresh[fresh.length - 1] as number;
      clean.push(...names.filter((n) => !clean.includes(n)));
    }
    // A final clean start/stop repairs the last killed segment.
    serve = await startServe(serveArgs(dir), { rawArgs: true });
    await serve.close();
    for (const name of mkvs(dir)) {
      const path = join(dir, name);
      assert.equal(decodeErrors(path), '', `${name} plays after the kills`);
      assert.ok((await readMatroskaHeader(path)).durationMs !== null, `${name} has a duration`);
    }
  } finally {
    cleanup();
  }
});
