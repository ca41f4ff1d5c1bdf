/**
 * The project's one ffmpeg locator: REARVIEW_FFMPEG, then PATH, then the
 * bundled @ffmpeg-installer binary. Thumbnails, decode() and the ffmpeg
 * source each had their own order (thumbnails even a machine path literal).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ffmpegExecutable } from '../../src/sources/ffmpeg-source.js';
import { bundledFfmpegPath, findFfmpeg } from '../../src/util/ffmpeg-path.js';
import { scratchDir } from '../support/paths.js';

test('findFfmpeg: REARVIEW_FFMPEG, then PATH, then the bundled binary; the ffmpeg source uses the same order', () => {
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
    const bundled = bundledFfmpegPath();
    assert.ok(bundled, '@ffmpeg-installer/ffmpeg is a dependency');
    assert.equal(findFfmpeg({ PATH: empty }), bundled);
    assert.equal(findFfmpeg({ PATH: empty }), bundled, 'cached answer is the same');
    assert.equal(ffmpegExecutable({ PATH: empty }), bundled);
    assert.equal(ffmpegExecutable({ REARVIEW_FFMPEG: '/opt/ff/ffmpeg', PATH: bin }), '/opt/ff/ffmpeg');
  } finally {
    cleanup();
  }
});
