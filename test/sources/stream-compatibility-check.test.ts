import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import { parseAnnexB } from '../../src/h264/h264-stream-parser.js';
import { StreamCompatibilityCheck } from '../../src/sources/stream-compatibility-check.js';
import { scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { memoryLogger, samplePath } from './source-fixtures.js';

/** Access units of a short libx264 stream with the given extra encoder arguments. */
function encode(dir: string, name: string, args: string[]): AccessUnit[] {
  const out = join(dir, name);
  const r = spawnSync(requireTool('ffmpeg'), [
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=160x120:rate=30',
    '-frames:v',
    '3',
    '-c:v',
    'libx264',
    ...args,
    '-f',
    'h264',
    out,
  ]);
  assert.equal(r.status, 0, String(r.stderr));
  return parseAnnexB(readFileSync(out)).accessUnits;
}

describe('StreamCompatibilityCheck', () => {
  it('warns once when the video will not play in browsers (4:4:4, 10-bit), never for the sample', () => {
    const { dir, cleanup } = scratchDir();
    try {
      const cases: Array<[string, string[], RegExp]> = [
        ['444.h264', ['-pix_fmt', 'yuv444p'], /chroma format 4:4:4.*High 4:4:4/],
        ['10bit.h264', ['-pix_fmt', 'yuv420p10le'], /10-bit samples.*High 10/],
      ];
      for (const [name, args, expected] of cases) {
        const { logger, lines } = memoryLogger();
        const check = new StreamCompatibilityCheck(logger);
        const aus = encode(dir, name, args);
        for (let round = 0; round < 3; round++)
          aus.forEach((au, i) => {
            check.check(au, i * 33);
          });
        assert.equal(check.warnings.length, 1, `${name}: once, ${lines.join('\n')}`);
        assert.match(check.warnings[0]!, /will not play in web browsers/);
        assert.match(check.warnings[0]!, expected);
        assert.equal(lines.filter((l) => l.includes('will not play')).length, 1);
      }
      const { logger } = memoryLogger();
      const check = new StreamCompatibilityCheck(logger);
      parseAnnexB(readFileSync(samplePath)).accessUnits.forEach((au, i) => {
        check.check(au, i * 33);
      });
      assert.deepEqual(check.warnings, []);
    } finally {
      cleanup();
    }
  });

  it('warns once when keyframes are more than 300 frames or 10 s apart', () => {
    const aus = parseAnnexB(readFileSync(samplePath)).accessUnits;
    const key = aus.find((a) => a.isKey)!;
    const delta = aus.find((a) => !a.isKey)!;
    const byFrames = new StreamCompatibilityCheck(memoryLogger().logger);
    byFrames.check(key, 0);
    for (let i = 1; i <= 300; i++) byFrames.check(delta, i); // 300 frames after the key: still fine
    assert.deepEqual(byFrames.warnings, []);
    byFrames.check(delta, 301);
    byFrames.check(delta, 302);
    assert.equal(byFrames.warnings.length, 1);
    assert.match(byFrames.warnings[0]!, /no keyframe for 301 frames/);
    const byTime = new StreamCompatibilityCheck(memoryLogger().logger);
    byTime.check(key, 0);
    byTime.check(delta, 10_000);
    assert.deepEqual(byTime.warnings, []);
    byTime.check(delta, 10_001);
    assert.match(byTime.warnings[0] ?? '', /no keyframe for 2 frames \(10\.0 s\)/);
  });
});
