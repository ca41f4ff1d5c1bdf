/**
 * The stdin framing rule under load: a writer of unknown origin that pauses
 * anywhere inside frames, on a CPU taken by two busy loops, must never get a
 * frame cut short. The suite runs 60 frames of 720p; bench/stdin-framing-bench.ts
 * runs the same check over 5,000 and reports the close latency.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { encode720pTestStream, runChunkedFraming } from '../../bench/stdin-framing-run.js';
import { requireTool } from '../support/tools.js';
import { scratchDir } from '../support/paths.js';

describe('stdin framing under CPU competition', () => {
  it('0 frames cut short in 60 frames of 720p written in random chunks with random pauses, two busy loops spinning', async () => {
    const ffmpeg = requireTool('ffmpeg');
    const { dir, cleanup } = scratchDir();
    try {
      const input = join(dir, '720p.h264');
      encode720pTestStream(ffmpeg, input, 60);
      const r = await runChunkedFraming({ input, seed: 7, maxGapMs: 4, busyLoops: 2, busyLimitMs: 60_000 });
      assert.equal(r.expected, 60);
      assert.equal(r.delivered, 60);
      assert.equal(r.corrupted, 0);
      assert.ok(r.idlePauses > 0, 'the writer did pause after drained reads');
    } finally {
      cleanup();
    }
  });
});
