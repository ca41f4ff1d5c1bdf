/**
 * Regression: frames whose capture times are closer than a container tick
 * (a camera that delivers a burst after a stall) were written with equal
 * timestamps, and ffmpeg reported "non monotonically increasing dts" for the
 * recorded .mkv and .mp4. A server here sends a real x264 stream whose
 * capture-time SEIs are 0.2 ms apart; both recordings must decode cleanly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { AnnexBFramer, type FramedAccessUnit } from '../../src/client/annexb-framer.js';
import { joinAnnexB } from '../../src/h264/avcc.js';
import { buildCaptureTimeSei } from '../../src/h264/capture-time-sei.js';
import { requireTool } from '../support/tools.js';
import { scratchDir } from '../support/paths.js';
import { runCli } from './cli-run.js';

test('recordings of frames captured 0.2 ms apart decode without timestamp errors', async () => {
  const ffmpeg = requireTool('ffmpeg');
  const scratch = scratchDir();
  try {
    const file = join(scratch.dir, 'in.h264');
    const gen = spawnSync(ffmpeg, [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x240:rate=30',
      '-t',
      '2',
      '-c:v',
      'libx264',
      '-g',
      '30',
      '-bf',
      '0',
      '-bsf:v',
      'h264_mp4toannexb',
      '-x264-params',
      'repeat-headers=1',
      '-f',
      'h264',
      file,
    ]);
    assert.equal(gen.status, 0, gen.stderr.toString());
    const aus: FramedAccessUnit[] = [];
    const framer = new AnnexBFramer({ onAccessUnit: (au) => aus.push(au) });
    framer.push(readFileSync(file));
    framer.flush();
    const t0 = Date.now();
    const parts = aus.map((au, i) => {
      const nals = [...au.nals];
      const firstSlice = au.types.findIndex((t) => t === 1 || t === 5);
      nals.splice(firstSlice, 0, buildCaptureTimeSei(t0 + i * 0.2));
      return joinAnnexB(nals).data;
    });
    const stream = Buffer.concat(parts);
    const server = createServer((s) => s.end(stream));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      for (const ext of ['mkv', 'mp4']) {
        const out = join(scratch.dir, `burst.${ext}`);
        const r = await runCli(['record', `tcp://127.0.0.1:${port}`, '-o', out, '--no-reconnect', '--json']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal((JSON.parse(r.stdout) as { frames: number }).frames, 60);
        const check = spawnSync(ffmpeg, ['-v', 'error', '-i', out, '-f', 'null', '-']);
        assert.equal(check.stderr.toString(), '', `${ext}: no timestamp or decode errors`);
      }
    } finally {
      server.close();
    }
  } finally {
    scratch.cleanup();
  }
});
