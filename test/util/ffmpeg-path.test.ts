/**
 * The project's one ffmpeg locator: REARVIEW_FFMPEG, then PATH, nothing else
 * (no ffmpeg ships with the package). Thumbnails, decode() and the ffmpeg
 * source all use it; without an ffmpeg each says so instead of failing silently.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ffmpegExecutable } from '../../src/sources/ffmpeg-source.js';
import { FFMPEG_MISSING, findFfmpeg } from '../../src/util/ffmpeg-path.js';
import { scratchDir, repoRoot } from '../support/paths.js';

test('findFfmpeg: REARVIEW_FFMPEG, then PATH, then none; the ffmpeg source uses the same order', () => {
  const { dir, cleanup } = scratchDir();
  try {
    const bin = join(dir, 'bin');
    const empty = join(dir, 'empty');
    mkdirSync(bin);
    mkdirSync(empty);
    writeFileSync(join(bin, 'ffmpeg'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(bin, 'ffmpeg'), 0o755);
    assert.equal(findFfmpeg({ REARVIEW_FFMPEG: '/opt/ff/ffmpeg', PATH: bin }), '/opt/ff/ffmpeg');
    assert.equal(findFfmpeg({ PATH: bin }), 'ffmpeg', 'on PATH: the bare name, resolved by spawn with the same PATH');
    assert.equal(findFfmpeg({ PATH: empty }), undefined);
    assert.equal(findFfmpeg({ PATH: empty }), undefined, 'cached answer is the same');
    assert.equal(
      ffmpegExecutable({ PATH: empty }),
      'ffmpeg',
      'the source spawns the bare name and reports it not found on PATH',
    );
    assert.equal(ffmpegExecutable({ REARVIEW_FFMPEG: '/opt/ff/ffmpeg', PATH: bin }), '/opt/ff/ffmpeg');
    assert.match(FFMPEG_MISSING, /install it .*apt-get install ffmpeg.* or set REARVIEW_FFMPEG/);
  } finally {
    cleanup();
  }
});

test('no ffmpeg is bundled: package.json has no @ffmpeg-installer dependency', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as Record<
    string,
    Record<string, unknown> | undefined
  >;
  for (const field of ['dependencies', 'optionalDependencies', 'devDependencies', 'allowScripts']) {
    assert.deepEqual(
      Object.keys(pkg[field] ?? {}).filter((n) => n.startsWith('@ffmpeg-installer/')),
      [],
      field,
    );
  }
});
