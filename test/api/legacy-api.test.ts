/**
 * The device's documented API, each endpoint against its documented example
 * with plain curl, on a real server (127.0.0.1, port 0) over a folder of real
 * MKV segments made by ffmpeg.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { scratchDir } from '../support/paths.js';
import { requireTool } from '../support/tools.js';
import { curl, FIXTURE_MTIMES_S, makeRecordings, startTestApi, type TestApi } from './api-harness.js';

describe('legacy API (curl)', () => {
  const scratch = scratchDir('rearview-legacy-');
  const rec = join(scratch.dir, 'standalone_videos');
  let api: TestApi;

  before(async () => {
    spawnSync('mkdir', ['-p', rec]);
    makeRecordings(rec, 3);
    api = await startTestApi(rec);
  });
  after(async () => {
    await api?.close();
    scratch.cleanup();
  });

  it('GET / greets curl with the device text', async () => {
    const r = await curl([`${api.url}/`], scratch.dir);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'Welcome to Velovision Rearview');
  });

  it('GET /battery-percent, /battery-millivolts, /cpu-temp, /is-charging answer integer / boolean text', async () => {
    const pct = await curl([`${api.url}/battery-percent`], scratch.dir);
    assert.equal(pct.status, 200);
    assert.match(pct.text, /^\d+$/);
    const mv = await curl([`${api.url}/battery-millivolts`], scratch.dir);
    assert.equal(mv.status, 200);
    assert.match(mv.text, /^\d{4}$/);
    const temp = await curl([`${api.url}/cpu-temp`], scratch.dir);
    assert.equal(temp.status, 200);
    assert.match(temp.text, /^\d+$/);
    const ch = await curl([`${api.url}/is-charging`], scratch.dir);
    assert.equal(ch.status, 200);
    assert.match(ch.text, /^(true|false)$/);
  });

  it('GET /cpu-temp truncates like the device (48.6 -> 48), and a reading that is not a number is a 500', async () => {
    const thermal = api.device.thermal;
    const orig = thermal.readCelsius;
    try {
      for (const [value, text] of [
        [48.6, '48'],
        [48.99, '48'],
        [50, '50'],
      ] as const) {
        Object.assign(thermal, { readCelsius: async () => value });
        const r = await curl([`${api.url}/cpu-temp`], scratch.dir);
        assert.equal(r.status, 200);
        assert.equal(r.text, text, `${value}`);
      }
      Object.assign(thermal, { readCelsius: async () => Number.NaN });
      const bad = await curl([`${api.url}/cpu-temp`], scratch.dir);
      assert.equal(bad.status, 500);
      assert.equal(bad.text, 'Failed to read CPU temperature');
    } finally {
      Object.assign(thermal, { readCelsius: orig });
    }
  });

  it('hardware read failures give the documented 500 texts', async () => {
    const battery = api.device.battery;
    const orig = { p: battery.readPercent, m: battery.readMillivolts };
    const origT = api.device.thermal.readCelsius;
    const origC = api.device.charging.isCharging;
    const fail = async (): Promise<never> => {
      throw new Error('i2c timeout');
    };
    Object.assign(battery, { readPercent: fail, readMillivolts: fail });
    Object.assign(api.device.thermal, { readCelsius: fail });
    Object.assign(api.device.charging, { isCharging: fail });
    try {
      assert.deepEqual(
        [
          (await curl([`${api.url}/battery-percent`], scratch.dir)).status,
          (await curl([`${api.url}/battery-percent`], scratch.dir)).text,
        ],
        [500, 'Failed to get battery state of charge'],
      );
      assert.equal((await curl([`${api.url}/battery-millivolts`], scratch.dir)).text, 'Failed to get battery voltage');
      assert.equal((await curl([`${api.url}/cpu-temp`], scratch.dir)).text, 'Failed to read CPU temperature');
      const c = await curl([`${api.url}/is-charging`], scratch.dir);
      assert.deepEqual([c.status, c.text], [500, 'Failed to get charging status']);
    } finally {
      Object.assign(battery, { readPercent: orig.p, readMillivolts: orig.m });
      Object.assign(api.device.thermal, { readCelsius: origT });
      Object.assign(api.device.charging, { isCharging: origC });
    }
  });

  it('GET /camera-stream-status is true while the stream is served', async () => {
    const r = await curl([`${api.url}/camera-stream-status`], scratch.dir);
    assert.deepEqual([r.status, r.text], [200, 'true']);
  });

  it('GET /list-local-videos: old to new, absolute paths, date_updated as Unix-seconds strings', async () => {
    const r = await curl([`${api.url}/list-local-videos`], scratch.dir);
    assert.equal(r.status, 200);
    const list = JSON.parse(r.text) as Array<{ path: string; date_updated: string }>;
    assert.deepEqual(
      list.map((e) => e.path),
      ['log0001.mkv', 'log0002.mkv', 'log0003.mkv'].map((n) => join(rec, n)),
    );
    assert.deepEqual(
      list.map((e) => e.date_updated),
      FIXTURE_MTIMES_S.map(String),
    );
    for (const e of list) assert.equal(typeof e.date_updated, 'string');
  });

  it('GET /download-video?<absolute path> streams the MP4 conversion', async () => {
    const r = await curl([`${api.url}/download-video?${join(rec, 'log0001.mkv')}`], scratch.dir);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'video/mp4');
    const out = join(scratch.dir, 'got.mp4');
    writeFileSync(out, r.body);
    const probe = spawnSync(
      requireTool('ffprobe'),
      ['-v', 'error', '-show_entries', 'stream=codec_name,width', '-of', 'csv=p=0', out],
      { encoding: 'utf8' },
    );
    assert.equal(probe.stdout.trim(), 'h264,320');
  });

  it('POST /download-video with the path as body returns the .mkv', async () => {
    const r = await curl(
      ['-X', 'POST', '--data-binary', join(rec, 'log0002.mkv'), `${api.url}/download-video`],
      scratch.dir,
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'video/x-matroska');
    assert.equal(r.body.subarray(0, 4).toString('hex'), '1a45dfa3'); // EBML magic
  });

  it('GET /download-thumbnail?<absolute path> returns the JPEG', async () => {
    const thumb = join(rec, `log0001_${FIXTURE_MTIMES_S[0]}.jpg`);
    const r = await curl([`${api.url}/download-thumbnail?${thumb}`], scratch.dir);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'image/jpeg');
    assert.equal(r.body.subarray(0, 2).toString('hex'), 'ffd8');
  });

  it('PUT /blink-on and /blink-off switch the LED pattern', async () => {
    const on = await curl(['-X', 'PUT', `${api.url}/blink-on`], scratch.dir);
    assert.deepEqual([on.status, on.text], [200, 'Turned on LED']);
    assert.equal(api.device.led.describe, 'blink');
    const off = await curl(['-X', 'PUT', `${api.url}/blink-off`], scratch.dir);
    assert.deepEqual([off.status, off.text], [200, 'Turned off LED']);
    assert.equal(api.device.led.describe, 'blink-off', 'the LED is off');
  });

  it('PUT /restart-stream-mode answers as the device', async () => {
    const r = await curl(['-X', 'PUT', `${api.url}/restart-stream-mode`], scratch.dir);
    assert.deepEqual([r.status, r.text], [200, 'Restarted streaming mode']);
  });

  it('unknown paths: Unknown GET/PUT/POST request, 501', async () => {
    const g = await curl([`${api.url}/no-such-thing`], scratch.dir);
    assert.deepEqual([g.status, g.text], [501, 'Unknown GET request']);
    const p = await curl(['-X', 'PUT', `${api.url}/no-such-thing`], scratch.dir);
    assert.deepEqual([p.status, p.text], [501, 'Unknown PUT request']);
    const po = await curl(['-X', 'POST', '-d', 'x', `${api.url}/battery-percent`], scratch.dir);
    assert.deepEqual([po.status, po.text], [501, 'Unknown POST request']);
  });

  it('GET /wipe-local-videos deletes every recording (last: it empties the folder)', async () => {
    const r = await curl([`${api.url}/wipe-local-videos`], scratch.dir);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'Wiped 3 local videos');
    assert.deepEqual(
      readdirSync(rec).filter((f) => f.endsWith('.mkv')),
      [],
    );
    assert.equal(existsSync(join(rec, `log0001_${FIXTURE_MTIMES_S[0]}.jpg`)), false);
    const list = await curl([`${api.url}/list-local-videos`], scratch.dir);
    assert.equal(list.text, '[]');
  });
});
