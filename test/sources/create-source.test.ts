import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultConfig, mergeConfig } from '../../src/config.js';
import { hasCode } from '../../src/errors.js';
import { createSource } from '../../src/sources/create-source.js';
import { FileSource } from '../../src/sources/file-source.js';
import { ProcessSource } from '../../src/sources/process-source.js';
import { StreamSource } from '../../src/sources/stream-source.js';
import { TcpRelaySource } from '../../src/sources/tcp-relay-source.js';
import { requireTool } from '../support/tools.js';
import { scratchDir } from '../support/paths.js';
import { CollectingSink, fakeEnv, fakeSourceClock, memoryLogger, pidAlive, waitFor } from './source-fixtures.js';

const logger = memoryLogger().logger;
const make = (source: string) => createSource(mergeConfig(defaultConfig(), { source }), logger, { env: fakeEnv() });

describe('createSource', () => {
  it('chooses the backend from config.source', () => {
    const sample = make('sample');
    assert.ok(sample instanceof FileSource);
    assert.equal(sample.name, 'sample');
    assert.ok(make('file:clip.h264') instanceof FileSource);
    assert.equal(make('file:clip.h264').name, 'file:clip.h264');
    for (const name of ['rpicam', 'gstreamer', 'ffmpeg']) {
      const src = make(name);
      assert.ok(src instanceof ProcessSource);
      assert.equal(src.name, name);
    }
    assert.ok(make('-') instanceof StreamSource);
    const relay = make('tcp://127.0.0.1:5000');
    assert.ok(relay instanceof TcpRelaySource);
    assert.equal(relay.name, 'tcp://127.0.0.1:5000');
  });

  it('rejects an unknown source, listing the valid forms', () => {
    assert.throws(
      () => make('webcam'),
      (err) =>
        hasCode(err, 'ERR_CONFIG') &&
        (err as Error).message.includes('unknown source "webcam"') &&
        (err as Error).message.includes('sample, rpicam, gstreamer, ffmpeg, file:PATH, -, tcp://host:port'),
    );
    assert.throws(() => make('file:'), (err) => hasCode(err, 'ERR_CONFIG'));
    assert.throws(() => make('tcp://nohost'), (err) => hasCode(err, 'ERR_CONFIG'));
  });

  it('finds the bundled sample from the package, whatever the working directory', async () => {
    const { dir, cleanup } = scratchDir();
    const cwd = process.cwd();
    const { clock, fake } = fakeSourceClock();
    try {
      process.chdir(dir);
      const src = createSource(defaultConfig(), logger, { clock });
      const sink = new CollectingSink();
      await src.start(sink);
      fake.advance(1000);
      await src.close();
      assert.equal(sink.accessUnits.length, 31);
      const first = sink.accessUnits[0]!.au;
      assert.equal(first.isKey, true);
      assert.equal(first.sps?.width, 640);
      assert.equal(first.sps?.height, 360);
      assert.equal(first.sps?.fps, 30);
    } finally {
      process.chdir(cwd);
      cleanup();
    }
  });
});

describe('ffmpeg source with the real ffmpeg', () => {
  it('delivers decodable access units from the test pattern, one IDR per intra period', async () => {
    const ffmpeg = requireTool('ffmpeg');
    const { dir, cleanup } = scratchDir();
    const config = mergeConfig(defaultConfig(), { source: 'ffmpeg', video: { width: 320, height: 180, fps: 30, intraPeriod: 10, bitrateBps: '500k' } });
    const { logger: log, lines } = memoryLogger();
    const src = createSource(config, log) as ProcessSource;
    const sink = new CollectingSink();
    try {
      assert.equal(src.commandLine.command, 'ffmpeg', 'the ffmpeg on PATH');
      await src.start(sink);
      await waitFor(() => sink.accessUnits.length >= 25, '25 access units from ffmpeg', 20_000);
      const pid = src.pid!;
      await src.close();
      assert.equal(pidAlive(pid), false);
      const aus = sink.accessUnits.slice(0, 25).map((e) => e.au);
      assert.equal(aus[0]!.isKey, true);
      assert.deepEqual(aus.map((a, i) => (a.isKey ? i : -1)).filter((i) => i >= 0), [0, 10, 20]);
      for (const a of aus.filter((x) => x.isKey)) assert.deepEqual(a.nals.slice(0, 2).map((n) => n.type), [7, 8], 'SPS/PPS before every IDR');
      assert.ok(aus.every((a) => a.sliceTypes.every((t) => t !== 1)), 'no B slices');
      assert.equal(aus[0]!.sps?.width, 320);
      // Decode what we received with ffmpeg itself: every frame, no error.
      const file = join(dir, 'got.h264');
      const parts: Buffer[] = [];
      for (const a of aus) for (const n of a.nals) parts.push(Buffer.from([0, 0, 0, 1]), Buffer.from(n.data));
      writeFileSync(file, Buffer.concat(parts));
      const r = spawnSync(ffmpeg, ['-v', 'error', '-xerror', '-f', 'h264', '-i', file, '-f', 'framemd5', '-'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.equal(r.stdout.split('\n').filter((l) => /^0,/.test(l)).length, 25);
    } finally {
      await src.close();
      cleanup();
    }
    assert.ok(!lines.some((l) => / ERROR /.test(l)), lines.join('\n'));
  });
});
