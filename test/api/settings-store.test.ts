/** Settings persistence without --config, validation, and one PATCH at a time. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultSettingsPath, readPersistedSettings, SettingsStore } from '../../src/api/settings-store.js';
import { defaultConfig, mergeConfig, type RearviewConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { Logger } from '../../src/log/logger.js';
import { RecordingLibrary } from '../../src/recorder/recording-library.js';
import { startDaemonInProcess } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { makeRecordings, startTestApi } from './api-harness.js';

describe('SettingsStore', () => {
  it('without --config saves .rearview-settings.json inside the recordings folder, which loads back', async () => {
    const s = scratchDir('rearview-settings-');
    try {
      const rec = join(s.dir, 'standalone_videos');
      mkdirSync(rec);
      let config: RearviewConfig = mergeConfig(defaultConfig(), { recordingsDir: rec });
      const store = new SettingsStore({
        get: () => config,
        apply: async (next) => {
          config = next;
          return { restartedSource: false };
        },
      });
      // Regression: it was saved in the recordings folder's parent (the OS temp dir for tests, the checkout for ./recordings).
      assert.equal(store.path, join(rec, '.rearview-settings.json'));
      assert.equal(defaultSettingsPath(rec), store.path);
      const result = await store.patch({ streamWindowMs: '90s', video: { bitrateBps: '2M' } });
      assert.deepEqual(result.changed.sort(), ['streamWindowMs', 'video.bitrateBps']);
      assert.ok(existsSync(store.path));
      // Regression: durations were saved as bare numbers, which the config file reads as seconds (90000 s).
      assert.deepEqual(JSON.parse(readFileSync(store.path, 'utf8')), {
        video: { bitrateBps: 2_000_000 },
        streamWindowMs: '90000ms',
      });
      const reloaded = mergeConfig(defaultConfig(), readPersistedSettings(store.path));
      assert.equal(reloaded.streamWindowMs, 90_000);
      assert.equal(reloaded.video.bitrateBps, 2_000_000);
      assert.deepEqual(readPersistedSettings(join(s.dir, 'none.json')), {});
    } finally {
      s.cleanup();
    }
  });

  it('refuses read-only keys and bad values without writing anything', async () => {
    const s = scratchDir('rearview-settings-');
    try {
      const config = mergeConfig(defaultConfig(), { recordingsDir: join(s.dir, 'r') });
      const store = new SettingsStore({ get: () => config, apply: async () => ({ restartedSource: false }) });
      for (const bad of [
        { apiPort: 1 },
        { source: 'rpicam' },
        { video: { width: 15 } },
        { resolution: '1280*720' },
        { video: { fps: 0 } },
        { segmentMs: '10ms' },
        [],
        'x',
      ]) {
        await assert.rejects(store.patch(bad), ConfigError, JSON.stringify(bad));
      }
      assert.equal(existsSync(store.path), false);
    } finally {
      s.cleanup();
    }
  });

  it('applies PATCHes one at a time, in order', async () => {
    const s = scratchDir('rearview-settings-');
    try {
      let config = mergeConfig(defaultConfig(), { recordingsDir: join(s.dir, 'r') });
      const order: number[] = [];
      let active = 0;
      const store = new SettingsStore({
        get: () => config,
        apply: async (next) => {
          active++;
          assert.equal(active, 1, 'never two applies at once');
          await new Promise((r) => setImmediate(r));
          order.push(next.maxFiles);
          config = next;
          active--;
          return { restartedSource: false };
        },
      });
      await Promise.all([store.patch({ maxFiles: 10 }), store.patch({ maxFiles: 20 }), store.patch({ maxFiles: 30 })]);
      assert.deepEqual(order, [10, 20, 30]);
      assert.equal(JSON.parse(readFileSync(store.path, 'utf8')).maxFiles, 30);
    } finally {
      s.cleanup();
    }
  });

  it('a PATCH through the API without --config writes nothing outside the recordings folder; listing and wipe ignore the file', async () => {
    // Regression: the API tests (recordings folder = a scratch folder in the OS temp dir) left
    // rearview-settings.json in the OS temp dir, and every later `serve` there loaded it.
    const leaked = join(tmpdir(), 'rearview-settings.json');
    rmSync(leaked, { force: true });
    const s = scratchDir('rearview-settings-');
    const api = await startTestApi(s.dir);
    try {
      makeRecordings(s.dir, 1);
      const res = await fetch(`${api.url}/api/v1/settings`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ segmentMs: '30s' }),
      });
      assert.equal(res.status, 200, await res.text());
      assert.equal(existsSync(leaked), false);
      const file = join(s.dir, '.rearview-settings.json');
      assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { segmentMs: '30000ms' });
      const library = new RecordingLibrary(s.dir);
      assert.deepEqual(
        (await library.list()).map((r) => r.name),
        ['log0001.mkv'],
      );
      assert.equal(await library.removeAll(), 1);
      assert.ok(existsSync(file), 'wipe keeps the settings');
    } finally {
      await api.close();
      s.cleanup();
    }
  });
});

// Regression: PATCH settings with the settings file on a read-only filesystem answered
// 500 ERR_INTERNAL "internal error" and logged a stack trace.
it('PATCH settings on a read-only filesystem: 503 ERR_SETTINGS_WRITE saying why, nothing changed, no stack', async () => {
  const s = scratchDir('rearview-settings-ro-');
  const lines: string[] = [];
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', s.dir]);
  let d: Awaited<ReturnType<typeof startDaemonInProcess>> | undefined;
  try {
    const configFile = join(s.dir, 'config.json');
    writeFileSync(configFile, '{"maxFiles": 100}\n', { mode: 0o600 });
    execFileSync('mount', ['-o', 'remount,ro', s.dir]);
    d = await startDaemonInProcess(
      { maxFiles: 100 },
      { configFile, logger: new Logger({ level: 'error', sink: (l) => lines.push(l) }) },
    );
    const base = `http://127.0.0.1:${d.daemon.apiAddress?.port}`;
    const res = await fetch(`${base}/api/v1/settings`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ maxFiles: 200 }),
    });
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(res.status, 503);
    assert.equal(body.error.code, 'ERR_SETTINGS_WRITE');
    assert.match(
      body.error.message,
      /cannot save settings to .*config\.json: the filesystem is read-only \(EROFS\); nothing was changed/,
    );
    const after = (await (await fetch(`${base}/api/v1/settings`)).json()) as { maxFiles: number };
    assert.equal(after.maxFiles, 100, 'not applied when it could not be saved');
    assert.ok(
      lines.some((l) => l.includes('ERR_SETTINGS_WRITE: cannot save settings')),
      lines.join('\n'),
    );
    assert.ok(!lines.some((l) => /\n\s+at /.test(l)), `no stack trace in the log:\n${lines.join('\n')}`);
  } finally {
    await d?.close();
    execFileSync('umount', [s.dir]);
    s.cleanup();
  }
});
