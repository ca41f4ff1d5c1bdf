/**
 * Config durations and integers. Regression: a bare number on a key named
 * ...Ms meant seconds (`"segmentMs": 60000` was 16.7 hours) except on
 * sourceIdleCloseMs, where it meant milliseconds; now every ...Ms key reads
 * a bare number as milliseconds (config file, API), strings keep their
 * units, and serve's duration options (`--segment 60`) refuse a bare number
 * instead of guessing. Also: 0 fps / width / clients were accepted
 * (0 fps reached 90000 / fps in the hub).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { defaultConfig, loadConfig, mergeConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { scratchDir } from '../support/paths.js';
import { runCli } from '../cli/cli-run.js';

const scratch = scratchDir('rearview-config-');
after(() => scratch.cleanup());

describe('config durations', () => {
  it('a bare number on every ...Ms key is milliseconds, strings keep their unit', () => {
    const keys = [
      'sourceStallMs',
      'sourceIdleCloseMs',
      'clientSoftLimitMs',
      'clientHardLimitMs',
      'segmentMs',
      'streamWindowMs',
    ] as const;
    for (const key of keys) {
      assert.equal(mergeConfig(defaultConfig(), { [key]: 5000 })[key], 5000, `${key} number`);
      assert.equal(mergeConfig(defaultConfig(), { [key]: '5000' })[key], 5000, `${key} numeric string (CLI)`);
      assert.equal(mergeConfig(defaultConfig(), { [key]: '5s' })[key], 5000, `${key} with unit`);
      assert.equal(
        mergeConfig(defaultConfig(), { [key]: '5000ms' })[key],
        5000,
        `${key} as the settings store writes it`,
      );
    }
  });

  it('a config file with bare numbers means milliseconds', () => {
    const file = join(scratch.dir, 'c.json');
    writeFileSync(file, JSON.stringify({ segmentMs: 60000, sourceStallMs: 5000, sourceIdleCloseMs: 3 }));
    const c = loadConfig({ file });
    assert.equal(c.segmentMs, 60_000);
    assert.equal(c.sourceStallMs, 5000);
    assert.equal(c.sourceIdleCloseMs, 3);
  });

  it('refuses a segment below 1 s ("segmentMs": 60 in a file is 60 ms, never meant) and zero fps/size/clients', () => {
    assert.throws(() => mergeConfig(defaultConfig(), { segmentMs: 60 }), ConfigError);
    for (const bad of [
      { video: { fps: 0 } },
      { video: { width: 0 } },
      { maxClients: 0 },
      { maxClientsPerAddress: 0 },
      { fileFps: 0 },
      { video: { intraPeriod: 0 } },
    ]) {
      assert.throws(() => mergeConfig(defaultConfig(), bad), ConfigError, JSON.stringify(bad));
    }
    assert.equal(
      mergeConfig(defaultConfig(), { sourceIdleCloseMs: 0 }).sourceIdleCloseMs,
      0,
      '0 still disables idle close',
    );
    assert.equal(mergeConfig(defaultConfig(), { maxBytes: 0 }).maxBytes, 0);
  });

  // Regression: bare numbers became milliseconds with no floor but segmentMs, so an old
  // file's "sourceStallMs": 5 (meant as seconds) loaded as 5 ms: a source restart loop.
  it('refuses durations below their floor, with the unit hint', () => {
    for (const [key, value] of [
      ['sourceStallMs', 5],
      ['clientHardLimitMs', 10],
      ['clientSoftLimitMs', 5],
      ['clientBehindLimitMs', 10],
      ['streamWindowMs', 60],
    ] as const) {
      assert.throws(() => mergeConfig(defaultConfig(), { [key]: value }), /write "5s" for seconds/, key);
    }
    // Behind time is counted over 30 s: a longer limit could never be reached.
    assert.throws(() => mergeConfig(defaultConfig(), { clientBehindLimitMs: '31s' }), /over the 30 s window/);
    assert.equal(mergeConfig(defaultConfig(), { clientBehindLimitMs: '30s' }).clientBehindLimitMs, 30_000);
  });

  // Regression: maxFiles 0 or above 9999 was accepted; once the 10000 numbers were used the
  // recorder could not open a new segment and stopped for good.
  it('keeps maxFiles within the 10000 segment numbers', () => {
    for (const bad of [0, 10_000, 20_000])
      assert.throws(() => mergeConfig(defaultConfig(), { maxFiles: bad }), /maxFiles/, String(bad));
    assert.equal(mergeConfig(defaultConfig(), { maxFiles: 9999 }).maxFiles, 9999);
  });

  it('maxProtected: a percentage of the disk (default 25%) or a size; anything else refused', () => {
    assert.deepEqual(defaultConfig().maxProtected, { percent: 25 });
    assert.deepEqual(mergeConfig(defaultConfig(), { maxProtected: '10%' }).maxProtected, { percent: 10 });
    assert.deepEqual(mergeConfig(defaultConfig(), { maxProtected: '2GB' }).maxProtected, { bytes: 2_000_000_000 });
    assert.deepEqual(mergeConfig(defaultConfig(), { maxProtected: 1000 }).maxProtected, { bytes: 1000 });
    for (const bad of ['101%', '-1%', 'x%', 'lots', true, -5]) {
      assert.throws(() => mergeConfig(defaultConfig(), { maxProtected: bad as string }), ConfigError, String(bad));
    }
  });

  it('rearview serve refuses a duration option without a unit (seconds or milliseconds?) with one line, exit 2', async () => {
    for (const args of [
      ['--segment', '60'],
      ['--source-stall', '5000'],
      ['--stream-window', '90'],
    ]) {
      const r = await runCli([
        'serve',
        ...args,
        '--recordings',
        join(scratch.dir, 'rec'),
        '--stream-port',
        '0',
        '--api-port',
        '0',
        '--no-mdns',
        '--no-record',
      ]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`${args[0]} ${args[1]}: give a unit, e.g. ${args[1]}s or ${args[1]}ms`));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
