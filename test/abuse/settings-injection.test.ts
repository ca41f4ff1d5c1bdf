/**
 * Settings that reach a command line. Regression: `PATCH /api/v1/settings`
 * took any string as `video.level`; the gstreamer source pasted it into the
 * pipeline text and gst-launch re-parses its arguments (it escapes spaces,
 * not tabs), so a tab-separated level added pipeline elements (`filesrc ...
 * ! filesink ...`): any client on the camera's Wi-Fi could read or write any
 * file the daemon can, and the value was saved and ran again at every start.
 * `intraPeriod: 999999999999` and `cameraName: ""` were accepted too.
 *
 * Proved against a real `rearview serve --source gstreamer` with the fake
 * gst-launch-1.0 on PATH (it records its argv): hostile values are refused
 * with 400, never saved, and never reach the argv (a valid change afterwards
 * restarts the source with a clean argv); the config file, the command line
 * and the settings file saved in the recordings folder refuse the same
 * values with one line and exit code 2.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readPersistedSettings, SETTINGS_FILE_NAME, SettingsStore } from '../../src/api/settings-store.js';
import { defaultConfig, H264_LEVELS, loadConfig, mergeConfig, type H264Level } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { ffmpegArgs } from '../../src/sources/ffmpeg-source.js';
import { gstreamerCommandLine } from '../../src/sources/gstreamer-source.js';
import { rpicamArgs } from '../../src/sources/rpicam-source.js';
import { runCli } from '../cli/cli-run.js';
import { fakeEnv, readLaunches, type FakeLaunch } from '../sources/source-fixtures.js';
import { startServe, type ServeProcess } from '../support/daemon.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';

/** A level that, pasted into the pipeline text, adds a file copy to the pipeline. */
const TAB_LEVEL = '4.1,stream-format=byte-stream\t!\tfilesrc\tlocation=/etc/passwd\t!\tfilesink\tlocation=/tmp/stolen';

/** Values every path (PATCH, config file, CLI) must refuse, as PATCH bodies. */
const HOSTILE_PATCHES: Array<Record<string, unknown>> = [
  { video: { level: TAB_LEVEL } },
  { video: { level: '4.1 ! filesink location=/tmp/x' } },
  { video: { level: '4.1\n' } },
  { video: { level: '7' } },
  { video: { level: '' } },
  { video: { profile: 'high\tfilesrc' } },
  { video: { intraPeriod: 999999999999 } },
  { video: { intraPeriod: 1.5 } },
  { video: { width: 1281 } },
  { video: { height: 100000 } },
  { video: { fps: 1000 } },
  { video: { bitrateBps: '1T' } },
  { resolution: '1280x720\t' },
  { cameraName: '' },
  { cameraName: 'bike cam' },
  { cameraName: 'cam\t!\tfilesrc' },
  { cameraName: '-cam' },
  { cameraName: 'a'.repeat(64) },
  { segmentMs: '1000h' },
  { minFreePercent: 101 },
  { maxBytes: 1e300 },
];

/** Keys that stay config-file and command-line only. */
const FREE_FORM_PATCHES: Array<Record<string, unknown>> = [
  { source: 'file:/etc/passwd' },
  { gstPipeline: 'filesrc location=/etc/passwd' },
  { captureDevice: '/etc/passwd' },
  { recordingsDir: '/' },
  { apiToken: 'x' },
  { bind: '0.0.0.0' },
  // Where the video goes: publishing targets and their CA.
  { publish: ['rtmp://attacker.example/live/stolen'] },
  { publishCa: '/etc/passwd' },
];

/** Every argument of every launch. */
function allArgs(launches: FakeLaunch[]): string[] {
  return launches.flatMap((l) => l.args);
}

describe('settings injection: PATCH to a real daemon with the gstreamer source', () => {
  const scratch = scratchDir('rearview-abuse-');
  const log = join(scratch.dir, 'launches.jsonl');
  const recordings = join(scratch.dir, 'recordings');
  let serve: ServeProcess;
  let base = '';

  before(async () => {
    serve = await startServe(
      ['--source', 'gstreamer', '--bind', '127.0.0.1', '--recordings', recordings, '--source-stall', '60s'],
      {
        waitForApi: true,
        // The fake writes a few frames and then stays alive, so every launch in the log is one the daemon asked for.
        env: fakeEnv({ FAKE_ENCODER_LOG: log, FAKE_ENCODER_FRAMES: '30', FAKE_ENCODER_AFTER: 'hang' }),
      },
    );
    base = `http://127.0.0.1:${serve.apiPort}`;
    await waitFor(() => readLaunches(log).length > 0, 'the first gst-launch-1.0');
  });
  after(async () => {
    await serve?.close();
    scratch.cleanup();
  });

  /** A PATCH answer: the applied result or an error body (docs/api.md). */
  type PatchAnswer = { error: { code: string; message: string }; applied: { restartedSource: boolean } };
  async function patch(body: unknown): Promise<{ status: number; json: PatchAnswer }> {
    const r = await fetch(`${base}/api/v1/settings`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: r.status, json: (await r.json()) as PatchAnswer };
  }

  it('refuses a tab-separated level with 400; nothing is saved and nothing reaches the argv', async () => {
    const r = await patch({ video: { level: TAB_LEVEL } });
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.equal(r.json.error.code, 'ERR_CONFIG');
    assert.match(r.json.error.message, /^video\.level: expected one of 1, 1b, 1\.1, .* 6\.2, got /);
    assert.equal(existsSync(join(recordings, SETTINGS_FILE_NAME)), false, 'nothing saved');
    const settings = (await (await fetch(`${base}/api/v1/settings`)).json()) as { video: { level: string } };
    assert.equal(settings.video.level, '4.1');
  });

  it('refuses every out-of-set or out-of-range value and every free-form key', async () => {
    for (const body of [...HOSTILE_PATCHES, ...FREE_FORM_PATCHES]) {
      const r = await patch(body);
      assert.equal(r.status, 400, `${JSON.stringify(body)} -> ${JSON.stringify(r.json)}`);
      assert.equal(r.json.error.code, 'ERR_CONFIG', JSON.stringify(body));
      assert.equal(r.json.error.message.includes('\n'), false, 'one line');
    }
    assert.equal(existsSync(join(recordings, SETTINGS_FILE_NAME)), false, 'nothing saved');
  });

  it('a valid change afterwards restarts gst-launch-1.0 with a clean argv, one element per value', async () => {
    const before = readLaunches(log).length;
    const r = await patch({ video: { level: '4.2', fps: 25, intraPeriod: 50 } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.applied.restartedSource, true);
    await waitFor(() => readLaunches(log).length > before, 'the restarted gst-launch-1.0');
    const launches = readLaunches(log);
    const last = launches[launches.length - 1]!;
    assert.equal(last.tool, 'gst-launch-1.0');
    assert.deepEqual(last.args, [
      '-q',
      'libcamerasrc',
      '!',
      'videoconvert',
      '!',
      'video/x-raw,width=640,height=360,framerate=25/1',
      '!',
      'v4l2h264enc',
      'extra-controls=controls,video_bitrate=1000000,repeat_sequence_header=1,h264_i_frame_period=50',
      '!',
      'video/x-h264,level=(string)4.2,stream-format=byte-stream',
      '!',
      'h264parse',
      'config-interval=-1',
      '!',
      'video/x-h264,stream-format=byte-stream,alignment=au',
      '!',
      'fdsink',
      'fd=1',
    ]);
    assert.ok(launches.every((l) => l.tool === 'gst-launch-1.0'));
    for (const arg of allArgs(launches)) {
      for (const needle of ['filesrc', 'filesink', '\t', '\n', ' ', '/etc/passwd', '999999999999']) {
        assert.equal(arg.includes(needle), false, `${JSON.stringify(needle)} reached the argv: ${JSON.stringify(arg)}`);
      }
    }
    const saved = JSON.parse(readFileSync(join(recordings, SETTINGS_FILE_NAME), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(saved, { video: { fps: 25, intraPeriod: 50, level: '4.2' } });
  });
});

describe('settings injection: the config file and the command line refuse the same values', () => {
  const scratch = scratchDir('rearview-abuse-cli-');
  after(() => scratch.cleanup());
  const common = ['--stream-port', '0', '--api-port', '0', '--bind', '127.0.0.1', '--no-mdns', '--no-record'];

  async function refused(args: string[], pattern: RegExp, env: NodeJS.ProcessEnv = {}): Promise<void> {
    const r = await runCli(['serve', ...common, ...args], { env, timeoutMs: 20_000 });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, '', 'never started');
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.match(r.stderr, pattern);
  }

  // A few real `serve` runs prove the exit code and the one line; the same loader (loadConfig,
  // readPersistedSettings) checks every other value in this process, which keeps the file fast.
  it('serve with hostile options, a hostile config file, a hostile saved settings file: one line, exit 2', async () => {
    const recordings = join(scratch.dir, 'cli-rec');
    const configFile = join(scratch.dir, 'hostile.json');
    writeFileSync(
      configFile,
      JSON.stringify({ video: { level: TAB_LEVEL }, recordingsDir: join(scratch.dir, 'file-rec') }),
    );
    const savedRecordings = join(scratch.dir, 'saved-rec');
    mkdirSync(savedRecordings, { recursive: true });
    writeFileSync(
      join(savedRecordings, SETTINGS_FILE_NAME),
      JSON.stringify({ gstPipeline: 'filesrc location=/etc/passwd ! filesink location=/tmp/stolen' }),
    );
    // A link planted in place of the saved file is not followed (it could point at any file the daemon can read).
    const linkRecordings = join(scratch.dir, 'link-saved-rec');
    mkdirSync(linkRecordings, { recursive: true });
    const elsewhere = join(scratch.dir, 'elsewhere.json');
    writeFileSync(elsewhere, JSON.stringify({ video: { fps: 25 } }));
    symlinkSync(elsewhere, join(linkRecordings, SETTINGS_FILE_NAME));
    await Promise.all([
      refused(['--recordings', recordings, '--level', TAB_LEVEL], /^rearview: video\.level: expected one of 1, 1b, /),
      refused(
        ['--recordings', recordings, '--intra', '999999999999'],
        /video\.intraPeriod: expected an integer from 1 to 3600, got "999999999999"/,
      ),
      refused(['--recordings', recordings, '--name', ''], /^rearview: cameraName: expected a DNS name/),
      refused(['--recordings', recordings, '--name', 'cam\tfilesrc'], /^rearview: cameraName: expected a DNS name/),
      refused(['--config', configFile], /^rearview: video\.level: expected one of 1, 1b, /),
      refused(
        ['--recordings', savedRecordings, '--source', 'gstreamer'],
        /gstPipeline cannot be set in .*\.rearview-settings\.json/,
        fakeEnv(),
      ),
      refused(['--recordings', linkRecordings], /cannot read settings file .*\.rearview-settings\.json/),
    ]);
  });

  it('a config file with any of the hostile values is refused with one line naming the key', () => {
    for (const [i, body] of HOSTILE_PATCHES.filter((b) => !('resolution' in b)).entries()) {
      const file = join(scratch.dir, `c${i}.json`);
      writeFileSync(file, JSON.stringify(body));
      const key =
        Object.keys(body)[0] === 'video' ? `video.${Object.keys(body.video as object)[0]}` : Object.keys(body)[0]!;
      assert.throws(
        () => loadConfig({ file }),
        (err: Error) => err instanceof ConfigError && err.message.startsWith(`${key}: `) && !err.message.includes('\n'),
        JSON.stringify(body),
      );
    }
  });

  it('the settings file in the recordings folder may hold only settable keys and valid values', () => {
    // Anyone who can write the recordings folder (an SD card moved to a laptop) must not
    // get a pipeline or a source in through the file the daemon reads at every start.
    const recordings = join(scratch.dir, 'saved-rec-2');
    mkdirSync(recordings, { recursive: true });
    const saved = join(recordings, SETTINGS_FILE_NAME);
    for (const body of FREE_FORM_PATCHES) {
      writeFileSync(saved, JSON.stringify(body));
      assert.throws(
        () => readPersistedSettings(saved),
        new RegExp(`: ${Object.keys(body)[0]} cannot be set in .*\\.rearview-settings\\.json`),
        JSON.stringify(body),
      );
    }
    for (const body of HOSTILE_PATCHES) {
      writeFileSync(saved, JSON.stringify(body));
      assert.throws(
        () => mergeConfig(defaultConfig(), readPersistedSettings(saved)),
        ConfigError,
        JSON.stringify(body),
      );
    }
    writeFileSync(saved, JSON.stringify({ video: { level: '4.2' }, segmentMs: '30000ms' }));
    assert.deepEqual(readPersistedSettings(saved), { video: { level: '4.2' }, segmentMs: '30000ms' });
  });

  it('PATCH never writes through a link planted at the temporary file name', async () => {
    const recordings = join(scratch.dir, 'link-rec');
    mkdirSync(recordings, { recursive: true });
    const victim = join(scratch.dir, 'victim.txt');
    writeFileSync(victim, 'untouched');
    let config = mergeConfig(defaultConfig(), { recordingsDir: recordings });
    const store = new SettingsStore({
      get: () => config,
      apply: async (next) => {
        config = next;
        return { restartedSource: false };
      },
    });
    symlinkSync(victim, `${store.path}.${process.pid}.tmp`);
    await store.patch({ video: { fps: 25 } });
    assert.equal(readFileSync(victim, 'utf8'), 'untouched');
    assert.deepEqual(JSON.parse(readFileSync(store.path, 'utf8')), { video: { fps: 25 } });
  });
});

describe('settings injection: the command builders', () => {
  it('every level of the standard and the extreme sizes build; each value is one argv element', () => {
    for (const level of H264_LEVELS) {
      for (const [width, height, fps, intraPeriod, bitrateBps] of [
        [16, 16, 1, 1, 10_000],
        [4096, 4096, 120, 3600, 200_000_000],
      ] as const) {
        const video = mergeConfig(defaultConfig(), {
          video: { level, width, height, fps, intraPeriod, bitrateBps },
        }).video;
        const gst = gstreamerCommandLine({ video, gstPipeline: undefined }).args;
        assert.ok(gst.includes(`video/x-h264,level=(string)${level},stream-format=byte-stream`));
        const rpicam = rpicamArgs(video);
        assert.equal(rpicam[rpicam.indexOf('--level') + 1], level);
        assert.equal(rpicam[rpicam.indexOf('--intra') + 1], String(intraPeriod));
        const ffmpeg = ffmpegArgs(video, undefined);
        assert.equal(ffmpeg[ffmpeg.indexOf('-level:v') + 1], level);
      }
    }
  });

  it('the gstreamer builder refuses a value that bypassed the config and would split', () => {
    // Library callers can build VideoSettings themselves; the pipeline text is checked last.
    for (const level of [TAB_LEVEL, '4.1 ! filesink', '4.1"', "4.1'", '4.1\\']) {
      const video = { ...defaultConfig().video, level: level as H264Level };
      assert.throws(() => gstreamerCommandLine({ video, gstPipeline: undefined }), ConfigError, JSON.stringify(level));
    }
  });

  it('numbers from a JSON file are the same level; other spellings are not', () => {
    assert.equal(mergeConfig(defaultConfig(), { video: { level: 4.1 } }).video.level, '4.1');
    assert.equal(mergeConfig(defaultConfig(), { video: { level: 4 } }).video.level, '4');
    for (const bad of ['4.10', ' 4.1', 'level4.1', '41', 6.3, '1B']) {
      assert.throws(
        () => mergeConfig(defaultConfig(), { video: { level: bad } }),
        /video\.level: expected one of/,
        String(bad),
      );
    }
  });

  it('camera names are DNS names', () => {
    for (const good of ['velovision-rearview', 'bike', 'Cam1', 'rearview.lan', 'a'.repeat(63)]) {
      assert.equal(mergeConfig(defaultConfig(), { cameraName: good }).cameraName, good);
    }
    for (const bad of [
      '',
      'bike cam',
      'cam-',
      '-cam',
      'a..b',
      'cam.',
      'a'.repeat(64),
      'caméra',
      'cam_1',
      'cam\u0000',
    ]) {
      assert.throws(
        () => mergeConfig(defaultConfig(), { cameraName: bad }),
        /cameraName: expected a DNS name/,
        JSON.stringify(bad),
      );
    }
  });
});
