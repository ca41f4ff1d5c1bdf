import assert from 'node:assert/strict';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultConfig, mergeConfig } from '../../src/config.js';
import { hasCode, type RearviewError } from '../../src/errors.js';
import { createSource } from '../../src/sources/create-source.js';
import { ffmpegArgs } from '../../src/sources/ffmpeg-source.js';
import { gstreamerCommandLine, splitPipeline } from '../../src/sources/gstreamer-source.js';
import type { ProcessSource } from '../../src/sources/process-source.js';
import { scratchDir } from '../support/paths.js';
import { CollectingSink, fakeBinDir, fakeEnv, memoryLogger, pidAlive, readLaunches } from './source-fixtures.js';
import { waitFor } from '../support/wait.js';

/** Starts the source for `config.source` with the fakes on PATH; returns what the fake recorded. */
async function launch(source: string, extraEnv: Record<string, string> = {}, configInput = {}, binDir = fakeBinDir) {
  const { dir, cleanup } = scratchDir();
  const log = join(dir, 'launches.jsonl');
  // The one-stream command lines; record-profile-sources.test.ts checks the two-profile ones.
  const config = mergeConfig(defaultConfig(), { source, recordProfile: 'same', ...configInput });
  const { logger, lines } = memoryLogger();
  const src = createSource(config, logger, {
    env: fakeEnv({ FAKE_ENCODER_LOG: log, ...extraEnv }, binDir),
    killGraceMs: 500,
  }) as ProcessSource;
  const sink = new CollectingSink();
  const exits: Array<RearviewError | undefined> = [];
  src.onExit((e) => exits.push(e));
  await src.start(sink);
  await waitFor(() => readLaunches(log).length > 0, 'the fake to record its argv');
  const launched = readLaunches(log)[0]!;
  return { src, sink, exits, launched, lines, dir, cleanup, log };
}

describe('process sources: argv', () => {
  it('rpicam runs rpicam-vid with the device defaults', async () => {
    const t = await launch('rpicam', { FAKE_ENCODER_FRAMES: '1' });
    try {
      assert.equal(t.launched.tool, 'rpicam-vid');
      assert.deepEqual(t.launched.args, [
        '--inline',
        '--flush',
        '-t',
        '0',
        '--codec',
        'h264',
        '-o',
        '-',
        '--width',
        '640',
        '--height',
        '360',
        '--framerate',
        '30',
        '--bitrate',
        '1000000',
        '--intra',
        '30',
        '--profile',
        'baseline',
        '--level',
        '4.1',
        '-n',
      ]);
    } finally {
      await t.src.close();
      t.cleanup();
    }
  });

  it('rpicam falls back to libcamera-vid when only that exists, with the configured video settings', async () => {
    const bin = scratchDir();
    symlinkSync(join(fakeBinDir, 'libcamera-vid'), join(bin.dir, 'libcamera-vid'));
    const t = await launch(
      'rpicam',
      { FAKE_ENCODER_FRAMES: '1' },
      {
        video: { width: 1280, height: 720, fps: 60, bitrateBps: '8M', intraPeriod: 60, profile: 'high', level: '4.2' },
      },
      bin.dir,
    );
    try {
      assert.equal(t.launched.tool, 'libcamera-vid');
      assert.deepEqual(t.launched.args.slice(8), [
        '--width',
        '1280',
        '--height',
        '720',
        '--framerate',
        '60',
        '--bitrate',
        '8000000',
        '--intra',
        '60',
        '--profile',
        'high',
        '--level',
        '4.2',
        '-n',
      ]);
    } finally {
      await t.src.close();
      t.cleanup();
      bin.cleanup();
    }
  });

  it('rpicam without either program is a clear ERR_SOURCE_SPAWN', () => {
    const empty = scratchDir();
    try {
      const config = mergeConfig(defaultConfig(), { source: 'rpicam' });
      assert.throws(
        () => createSource(config, memoryLogger().logger, { env: { PATH: empty.dir } }),
        (err) => hasCode(err, 'ERR_SOURCE_SPAWN') && /rpicam-vid nor libcamera-vid/.test((err as Error).message),
      );
    } finally {
      empty.cleanup();
    }
  });

  it("gstreamer runs the device's pipeline ending in fdsink", async () => {
    const t = await launch('gstreamer', { FAKE_ENCODER_FRAMES: '1' });
    try {
      assert.equal(t.launched.tool, 'gst-launch-1.0');
      assert.deepEqual(t.launched.args, [
        '-q',
        'libcamerasrc',
        '!',
        'videoconvert',
        '!',
        'video/x-raw,width=640,height=360,framerate=30/1',
        '!',
        'v4l2h264enc',
        'extra-controls=controls,video_bitrate=1000000,repeat_sequence_header=1,h264_i_frame_period=30',
        '!',
        'video/x-h264,level=(string)4.1,stream-format=byte-stream',
        '!',
        'h264parse',
        'config-interval=-1',
        '!',
        'video/x-h264,stream-format=byte-stream,alignment=au',
        '!',
        'fdsink',
        'fd=1',
      ]);
    } finally {
      await t.src.close();
      t.cleanup();
    }
  });

  it('gstreamer takes an overriding pipeline written as on a shell command line', () => {
    const config = mergeConfig(defaultConfig(), {
      gstPipeline: `videotestsrc is-live=true ! x264enc tune=zerolatency key-int-max=30 ! video/x-h264,stream-format=byte-stream ! h264parse config-interval=-1 !`,
    });
    assert.deepEqual(gstreamerCommandLine(config).args, [
      '-q',
      'videotestsrc',
      'is-live=true',
      '!',
      'x264enc',
      'tune=zerolatency',
      'key-int-max=30',
      '!',
      'video/x-h264,stream-format=byte-stream',
      '!',
      'h264parse',
      'config-interval=-1',
      '!',
      'fdsink',
      'fd=1',
    ]);
    assert.deepEqual(splitPipeline(`a extra-controls="controls,video_bitrate=1000000" b='x y' c\\ d`), [
      'a',
      'extra-controls=controls,video_bitrate=1000000',
      'b=x y',
      'c d',
    ]);
  });

  it('ffmpeg encodes a test pattern (or a V4L2 device) with libx264 tuned for zero latency', async () => {
    const t = await launch('ffmpeg', { FAKE_ENCODER_FRAMES: '1' });
    try {
      assert.equal(t.launched.tool, 'ffmpeg');
      const encode = [
        '-an',
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-tune',
        'zerolatency',
        '-profile:v',
        'baseline',
        '-level:v',
        '4.1',
        '-pix_fmt',
        'yuv420p',
        '-bf',
        '0',
        '-g',
        '30',
        '-keyint_min',
        '30',
        '-sc_threshold',
        '0',
        '-b:v',
        '1000000',
        '-maxrate',
        '1000000',
        '-bufsize',
        '1000000',
        '-x264-params',
        'repeat-headers=1:aud=1',
        '-flush_packets',
        '1',
        '-f',
        'h264',
        '-',
      ];
      assert.deepEqual(t.launched.args, [
        '-hide_banner',
        '-nostdin',
        '-loglevel',
        'warning',
        '-re',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=640x360:rate=30',
        ...encode,
      ]);
      const video = defaultConfig().video;
      assert.deepEqual(ffmpegArgs(video, '/dev/video0'), [
        '-hide_banner',
        '-nostdin',
        '-loglevel',
        'warning',
        '-f',
        'v4l2',
        '-framerate',
        '30',
        '-video_size',
        '640x360',
        '-i',
        '/dev/video0',
        ...encode,
      ]);
    } finally {
      await t.src.close();
      t.cleanup();
    }
  });
});

describe('process sources: running', () => {
  it('delivers every frame of the stream, logs stderr, and reports the exit', async () => {
    const t = await launch('rpicam', { FAKE_ENCODER_EXIT_CODE: '3' });
    try {
      await waitFor(() => t.exits.length === 1, 'the fake to exit');
      assert.equal(t.sink.accessUnits.length, 300);
      assert.equal(t.sink.accessUnits[0]!.au.isKey, true);
      const err = t.exits[0]!;
      assert.ok(hasCode(err, 'ERR_SOURCE_EXITED'));
      assert.match(err.message, /rpicam-vid exited with code 3: fake rpicam-vid: done after 300 frames/);
      assert.ok(
        t.lines.some((l) => l.includes('[rpicam rpicam-vid] fake rpicam-vid: started')),
        t.lines.join('\n'),
      );
    } finally {
      await t.src.close();
      t.cleanup();
    }
  });

  it('a pause never ends a frame: the last frame written waits for the next one while the encoder runs', async () => {
    // The fake writes 5 frames (one write each) and then goes silent. The 5th
    // frame could still continue, so only 4 are complete.
    const t = await launch('rpicam', { FAKE_ENCODER_FRAMES: '5', FAKE_ENCODER_AFTER: 'hang' });
    try {
      await waitFor(
        () => t.sink.accessUnits.length === 4 && (t.src.framerStats?.idlePauses ?? 0) > 0,
        '4 access units and an idle pause',
      );
      assert.equal(t.sink.accessUnits.length, 4);
      assert.equal(t.src.framerStats?.midFramePauses, 0);
      assert.ok(pidAlive(t.launched.pid), 'the encoder is still running');
    } finally {
      await t.src.close();
      t.cleanup();
    }
    assert.equal(pidAlive(t.launched.pid), false);
    assert.deepEqual(t.exits, [], 'a requested stop is not reported as an exit');
  });

  it('close() kills the whole process group, even members that ignore SIGTERM', async () => {
    const t = await launch('rpicam', {
      FAKE_ENCODER_AFTER: 'hang',
      FAKE_ENCODER_FRAMES: '1',
      FAKE_ENCODER_CHILD: '1',
      FAKE_ENCODER_IGNORE_TERM: '1',
    });
    try {
      const { pid, childPid } = t.launched;
      assert.ok(childPid !== undefined && pidAlive(childPid), 'the helper process runs');
      assert.ok(pidAlive(pid));
      await t.src.close();
      assert.equal(pidAlive(pid), false, 'the encoder is gone');
      await waitFor(() => !pidAlive(childPid), 'the helper to be gone (no orphan)', 5000);
      assert.ok(
        t.lines.some((l) => l.includes('sending SIGKILL')),
        t.lines.join('\n'),
      );
      await t.src.close(); // idempotent
    } finally {
      t.cleanup();
    }
  });

  it('a missing executable is ERR_SOURCE_SPAWN at start', async () => {
    const empty = scratchDir();
    try {
      const config = mergeConfig(defaultConfig(), { source: 'gstreamer' });
      const src = createSource(config, memoryLogger().logger, { env: { PATH: empty.dir } });
      await assert.rejects(
        src.start(new CollectingSink()),
        (err) => hasCode(err, 'ERR_SOURCE_SPAWN') && /not found on PATH/.test((err as Error).message),
      );
      await src.close();
    } finally {
      empty.cleanup();
    }
  });
});
