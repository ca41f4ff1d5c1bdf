/**
 * `rearview doctor` without a Raspberry Pi camera: with ffmpeg on PATH it
 * says which sources work (not "only the sample source"), and it lists the
 * webcams in a device folder, skipping the Pi's own V4L2 nodes and a
 * webcam's metadata node. PATH, the device folder and its sysfs folder are
 * fake folders here (no such hardware on a test machine).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runDoctor, type DoctorCheck, type DoctorInputs } from '../../src/cli/doctor-command.js';
import { scratchDir } from '../support/paths.js';

let scratch: { dir: string; cleanup: () => void };
let bin: string;
let emptyBin: string;
let dev: string;
let sys: string;

/** A `video<N>` node in the fake /dev, with its sysfs name and index. */
function node(n: number, name: string, index = 0): void {
  writeFileSync(join(dev, `video${n}`), '');
  mkdirSync(join(sys, `video${n}`), { recursive: true });
  writeFileSync(join(sys, `video${n}`, 'name'), `${name}\n`);
  writeFileSync(join(sys, `video${n}`, 'index'), `${index}\n`);
}

before(() => {
  scratch = scratchDir();
  bin = join(scratch.dir, 'bin');
  emptyBin = join(scratch.dir, 'empty-bin');
  dev = join(scratch.dir, 'dev');
  sys = join(scratch.dir, 'sys');
  for (const d of [bin, emptyBin, dev, sys]) mkdirSync(d);
  writeFileSync(join(bin, 'ffmpeg'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(bin, 'ffmpeg'), 0o755);
  node(0, 'HD Webcam C270');
  node(1, 'HD Webcam C270', 1); // the webcam's metadata node
  node(10, 'bcm2835-codec-decode');
  node(11, 'bcm2835-codec-encode');
  node(13, 'bcm2835-isp');
  writeFileSync(join(dev, 'vchiq'), ''); // not a video node
});

after(() => scratch.cleanup());

function inputs(overrides: Partial<DoctorInputs>): DoctorInputs {
  return {
    source: 'sample',
    recordingsDir: join(scratch.dir, 'recordings'),
    streamPort: 0,
    apiPort: 0,
    bind: '127.0.0.1',
    minFreeBytes: 0,
    path: bin,
    ffmpegOverride: undefined,
    encoderDevices: [join(dev, 'video11')],
    deviceDir: dev,
    video4linuxDir: sys,
    nowMs: Date.UTC(2025, 5, 1),
    ...overrides,
  };
}

function check(checks: DoctorCheck[], name: string): DoctorCheck {
  const found = checks.find((c) => c.name === name);
  assert.ok(found, `a "${name}" check in ${JSON.stringify(checks.map((c) => c.name))}`);
  return found;
}

test('no Pi camera but ffmpeg on PATH: the sources that work are named, ffmpeg among them', async () => {
  const tools = check(await runDoctor(inputs({})), 'camera tools');
  assert.equal(tools.status, 'warn');
  assert.doesNotMatch(tools.message, /only the/);
  assert.equal(
    tools.message,
    `no rpicam-vid/libcamera-vid on PATH, so no Raspberry Pi camera; sources that work here: sample, file:PATH, - (standard input), tcp://HOST:PORT (relay), ffmpeg (${join(bin, 'ffmpeg')}: a webcam with --device, else a test pattern)`,
  );
  // Without ffmpeg, ffmpeg is not offered.
  const bare = check(await runDoctor(inputs({ path: emptyBin })), 'camera tools');
  assert.doesNotMatch(bare.message, /ffmpeg/);
});

test('webcams: found in the device folder, with the command that uses one', async () => {
  const checks = await runDoctor(inputs({}));
  const cams = check(checks, 'webcams');
  assert.equal(cams.status, 'ok');
  // video1 is video0's metadata node; video10/11/13 are the Pi's codec and ISP.
  assert.equal(
    cams.message,
    `found ${join(dev, 'video0')} (HD Webcam C270): rearview serve --source ffmpeg --device ${join(dev, 'video0')}`,
  );
  assert.deepEqual(checks.map((c) => c.name).slice(0, 4), ['camera tools', 'ffmpeg', 'encoder', 'webcams']);
  assert.equal(check(checks, 'encoder').status, 'ok', 'the fake encoder node counts as the encoder');

  const noFfmpeg = check(await runDoctor(inputs({ path: emptyBin })), 'webcams');
  assert.match(noFfmpeg.message, /: install ffmpeg, then rearview serve --source ffmpeg --device /);
});

test('webcams: none is fine unless the ffmpeg source is configured with a device that is not there', async () => {
  const empty = join(scratch.dir, 'empty-dev');
  mkdirSync(empty, { recursive: true });
  const none = check(await runDoctor(inputs({ deviceDir: empty })), 'webcams');
  assert.deepEqual(none, { name: 'webcams', status: 'ok', message: 'none (no /dev/video* capture device)' });
  const pattern = check(await runDoctor(inputs({ deviceDir: empty, source: 'ffmpeg' })), 'webcams');
  assert.equal(pattern.message, 'none (no /dev/video* capture device): the ffmpeg source makes a test pattern');

  const missing = join(dev, 'video7');
  const fail = check(await runDoctor(inputs({ source: 'ffmpeg', captureDevice: missing })), 'webcams');
  assert.equal(fail.status, 'fail');
  assert.equal(
    fail.message,
    `the configured --device ${missing} is not there; found ${join(dev, 'video0')} (HD Webcam C270): plug it in or pick another`,
  );
  const ok = check(await runDoctor(inputs({ source: 'ffmpeg', captureDevice: join(dev, 'video0') })), 'webcams');
  assert.deepEqual(ok, { name: 'webcams', status: 'ok', message: `${join(dev, 'video0')} (the configured --device)` });
});

test('recording profile: separate beside the stream, the gstreamer encodes not yet run on hardware, rpicam records the stream', async () => {
  const sample = check(await runDoctor(inputs({ source: 'sample' })), 'recording profile');
  assert.deepEqual(sample, {
    name: 'recording profile',
    status: 'ok',
    message: 'recordings 1280x720 (the bundled clip) beside the 640x360 stream',
  });
  const gst = check(await runDoctor(inputs({ source: 'gstreamer' })), 'recording profile');
  assert.equal(gst.status, 'warn');
  assert.match(gst.message, /^recordings 1280x720 and the stream 640x360 from one camera .*: not yet run on hardware;/);
  const rpicam = check(await runDoctor(inputs({ source: 'rpicam' })), 'recording profile');
  assert.equal(rpicam.status, 'warn');
  assert.equal(
    rpicam.message,
    'recordings are the stream (640x360): rpicam-vid encodes one stream (--source gstreamer encodes both profiles)',
  );
  const same = check(await runDoctor(inputs({ source: 'ffmpeg', recordProfile: 'same' })), 'recording profile');
  assert.deepEqual([same.status, same.message], ['ok', 'recordings are the stream (recordProfile same)']);
  const off = await runDoctor(inputs({ record: false }));
  assert.equal(
    off.find((c) => c.name === 'recording profile'),
    undefined,
    'no recording, no profile to report',
  );
});

test('a camera source whose tool is found: its command line is marked not yet run on hardware', async () => {
  const camBin = join(scratch.dir, 'cam-bin');
  mkdirSync(camBin);
  for (const tool of ['rpicam-vid', 'gst-launch-1.0']) {
    writeFileSync(join(camBin, tool), '#!/bin/sh\nexit 0\n');
    chmodSync(join(camBin, tool), 0o755);
  }
  for (const [source, tool] of [
    ['rpicam', 'rpicam-vid'],
    ['gstreamer', 'gst-launch-1.0'],
  ] as const) {
    const tools = check(await runDoctor(inputs({ source, path: camBin })), 'camera tools');
    assert.equal(tools.status, 'warn');
    assert.equal(
      tools.message,
      `camera: ${join(camBin, 'rpicam-vid')}, gstreamer: ${join(camBin, 'gst-launch-1.0')}; the ${tool} command line of the "${source}" source (docs/sources.md) is not yet run on hardware: if the source does not start, the log quotes the tool's last line`,
    );
  }
  // A source that runs no camera tool says nothing of the kind.
  assert.equal(check(await runDoctor(inputs({ path: camBin })), 'camera tools').status, 'ok');
});

test('ports held by a running Rearview that requires a token are still recognised as its own', async () => {
  const { startServe } = await import('../support/daemon.js');
  const serve = await startServe(['--bind', '127.0.0.1', '--api-token', 'c0ffee'.repeat(6)], { waitForApi: true });
  try {
    const checks = await runDoctor(
      inputs({ streamPort: serve.streamPort, apiPort: serve.apiPort ?? 0, bind: '127.0.0.1' }),
    );
    for (const name of ['api port', 'stream port']) {
      const port = check(checks, name);
      assert.equal(port.status, 'ok', port.message);
      assert.match(port.message, /is in use by a running Rearview/);
    }
  } finally {
    await serve.close();
  }
});
