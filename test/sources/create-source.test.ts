import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig, mergeConfig } from '../../src/config.js';
import { hasCode } from '../../src/errors.js';
import { createSource } from '../../src/sources/create-source.js';
import { FileSource } from '../../src/sources/file-source.js';
import { ProcessSource } from '../../src/sources/process-source.js';
import { StreamSource } from '../../src/sources/stream-source.js';
import { TcpRelaySource } from '../../src/sources/tcp-relay-source.js';
import { scratchDir } from '../support/paths.js';
import { PairedSource } from '../../src/sources/paired-source.js';
import { CollectingSink, fakeEnv, fakeSourceClock, memoryLogger } from './source-fixtures.js';

const logger = memoryLogger().logger;
const make = (source: string, recordProfile: 'same' | 'separate' = 'same') =>
  createSource(mergeConfig(defaultConfig(), { source, recordProfile }), logger, { env: fakeEnv() });

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
    // With a separate recording profile: sample, ffmpeg and gstreamer deliver it; the others give one stream.
    const pair = make('sample', 'separate');
    assert.ok(pair instanceof PairedSource);
    assert.equal(pair.name, 'sample');
    for (const name of ['sample', 'ffmpeg', 'gstreamer']) assert.equal(make(name, 'separate').recordingOutput, true);
    for (const name of ['rpicam', 'file:clip.h264', '-', 'tcp://127.0.0.1:5000', 'sample', 'ffmpeg'])
      assert.ok(!make(name, name === 'sample' || name === 'ffmpeg' ? 'same' : 'separate').recordingOutput, name);
    assert.equal(relay.name, 'tcp://127.0.0.1:5000');
  });

  it('rejects an unknown source, listing the valid forms', () => {
    assert.throws(
      () => make('webcam'),
      (err) =>
        hasCode(err, 'ERR_CONFIG') &&
        (err as Error).message.includes('unknown source "webcam"') &&
        // Refused when the config loads (before anything binds), with every valid form named.
        ['sample', 'rpicam', 'gstreamer', 'ffmpeg', 'file:PATH', '-', 'tcp://'].every((form) =>
          (err as Error).message.includes(form),
        ),
    );
    assert.throws(
      () => make('file:'),
      (err) => hasCode(err, 'ERR_CONFIG'),
    );
    // (tcp://host without a port means port 5000, as for every command: test/util/stream-address.test.ts.)
    assert.throws(
      () => make('tcp://nohost:0'),
      (err) => hasCode(err, 'ERR_CONFIG'),
    );
  });

  it('finds the bundled sample from the package, whatever the working directory', async () => {
    const { dir, cleanup } = scratchDir();
    const cwd = process.cwd();
    const { clock, fake } = fakeSourceClock();
    try {
      process.chdir(dir);
      const src = createSource(mergeConfig(defaultConfig(), { recordProfile: 'same' }), logger, { clock });
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
