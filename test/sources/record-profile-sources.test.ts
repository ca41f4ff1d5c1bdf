/**
 * The recording profile at the source level: which sources encode it
 * (recordingProfileOf), the golden command lines of the two-output ffmpeg and
 * gstreamer sources, both outputs delivered by the bundled sample, by real
 * ffmpeg (one process, stdout and pipe:3) and by the gstreamer source's
 * process wiring (a fake gst-launch-1.0 writing fd 1 and fd 3), and the
 * supervisor feeding two sinks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig, mergeConfig, type RearviewConfig } from '../../src/config.js';
import { SourceError, type RearviewError } from '../../src/errors.js';
import type { AccessUnit } from '../../src/h264/access-unit.js';
import type { CaptureSource, SourceSink } from '../../src/sources/capture-source.js';
import { createSource, recordingProfileOf } from '../../src/sources/create-source.js';
import { ffmpegDualArgs } from '../../src/sources/ffmpeg-source.js';
import { gstreamerCommandLine } from '../../src/sources/gstreamer-source.js';
import type { ProcessSource } from '../../src/sources/process-source.js';
import { SourceSupervisor } from '../../src/sources/source-supervisor.js';
import { requireTool } from '../support/tools.js';
import { scratchDir } from '../support/paths.js';
import { waitFor } from '../support/wait.js';
import { CollectingSink, fakeEnv, fakeSourceClock, memoryLogger, readLaunches } from './source-fixtures.js';
import { join } from 'node:path';

const config = (input: Parameters<typeof mergeConfig>[1] = {}): RearviewConfig => mergeConfig(defaultConfig(), input);
const widthOf = (sink: CollectingSink): number | undefined => sink.accessUnits.find((e) => e.au.sps)?.au.sps?.width;
const spsOf = (sink: CollectingSink) => sink.accessUnits.find((e) => e.au.sps)?.au.sps;

describe('recording profile: which sources encode it', () => {
  it('separate for sample, ffmpeg and the default gstreamer pipeline; same, with the reason, for the others', () => {
    for (const source of ['sample', 'ffmpeg', 'gstreamer'])
      assert.deepEqual(recordingProfileOf(config({ source })), { separate: true }, source);
    const notes: Record<string, RegExp> = {
      rpicam: /^rpicam-vid encodes one stream \(--source gstreamer encodes both profiles\): recordings are the stream/,
      'file:ride.h264': /^file:ride\.h264 gives one stream: recordings are the stream \(record profile same\)$/,
      '-': /^standard input gives one stream/,
      'tcp://127.0.0.1:5000': /^tcp:\/\/127\.0\.0\.1:5000 gives one stream/,
    };
    for (const [source, note] of Object.entries(notes)) {
      const choice = recordingProfileOf(config({ source }));
      assert.equal(choice.separate, false, source);
      assert.match(choice.note ?? '', note);
    }
    const custom = recordingProfileOf(config({ source: 'gstreamer', gstPipeline: 'videotestsrc ! x264enc' }));
    assert.equal(custom.separate, false);
    assert.match(custom.note ?? '', /custom gstPipeline gives one stream/);
    // Asked for: no note, whatever the source.
    assert.deepEqual(recordingProfileOf(config({ source: 'ffmpeg', recordProfile: 'same' })), { separate: false });
  });

  it('golden: the gstreamer source takes both profiles from one libcamerasrc into two v4l2h264enc', () => {
    // Not yet run on hardware (docs/sources.md): this command line is what a camera will run.
    assert.deepEqual(gstreamerCommandLine(config(), true), {
      command: 'gst-launch-1.0',
      args: [
        '-q',
        'libcamerasrc',
        'name=cam',
        'cam.src',
        '!',
        'queue',
        '!',
        'videoconvert',
        '!',
        'video/x-raw,width=1280,height=720,framerate=30/1',
        '!',
        'v4l2h264enc',
        'extra-controls=controls,video_bitrate=8000000,repeat_sequence_header=1,h264_i_frame_period=30',
        '!',
        'video/x-h264,level=(string)4.1,profile=(string)high,stream-format=byte-stream',
        '!',
        'h264parse',
        'config-interval=-1',
        '!',
        'video/x-h264,stream-format=byte-stream,alignment=au',
        '!',
        'fdsink',
        'fd=3',
        'cam.src_0',
        '!',
        'queue',
        '!',
        'videoconvert',
        '!',
        'video/x-raw,width=640,height=360,framerate=30/1',
        '!',
        'v4l2h264enc',
        'extra-controls=controls,video_bitrate=1000000,repeat_sequence_header=1,h264_i_frame_period=30',
        '!',
        'video/x-h264,level=(string)4.1,profile=(string)baseline,stream-format=byte-stream',
        '!',
        'h264parse',
        'config-interval=-1',
        '!',
        'video/x-h264,stream-format=byte-stream,alignment=au',
        '!',
        'fdsink',
        'fd=1',
      ],
    });
    // The recording profile's values are the validated ones, each inside one argument.
    const changed = gstreamerCommandLine(
      config({ recordVideo: { width: 1920, height: 1080, fps: 25, bitrateBps: '12M', level: '4.2' } }),
      true,
    ).args;
    assert.ok(changed.includes('video/x-raw,width=1920,height=1080,framerate=25/1'));
    assert.ok(changed.includes('video/x-h264,level=(string)4.2,profile=(string)high,stream-format=byte-stream'));
  });

  it('golden: ffmpeg splits one capture into the stream on stdout and the recording on pipe:3', () => {
    const c = config();
    const args = ffmpegDualArgs(c.video, c.recordVideo, undefined);
    const encode = (profile: string, preset: string, bitrate: string, output: string) => [
      '-an',
      '-c:v',
      'libx264',
      '-preset',
      preset,
      '-tune',
      'zerolatency',
      '-profile:v',
      profile,
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
      bitrate,
      '-maxrate',
      bitrate,
      '-bufsize',
      bitrate,
      '-x264-params',
      'repeat-headers=1:aud=1',
      '-flush_packets',
      '1',
      '-f',
      'h264',
      output,
    ];
    assert.deepEqual(args, [
      '-hide_banner',
      '-nostdin',
      '-loglevel',
      'warning',
      '-re',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=1280x720:rate=30',
      '-filter_complex',
      '[0:v]split=2[s][r];[s]scale=640:360[stream];[r]null[recording]',
      '-map',
      '[stream]',
      ...encode('baseline', 'ultrafast', '1000000', '-'),
      '-map',
      '[recording]',
      ...encode('high', 'superfast', '8000000', 'pipe:3'),
    ]);
    // A webcam is opened at the larger size and the higher rate; each output converted only where it differs.
    const webcam = ffmpegDualArgs(
      { ...c.video, fps: 15 },
      { ...c.recordVideo, width: 320, height: 180 },
      '/dev/video0',
    );
    assert.deepEqual(webcam.slice(4, 13), [
      '-f',
      'v4l2',
      '-framerate',
      '30',
      '-video_size',
      '640x360',
      '-i',
      '/dev/video0',
      '-filter_complex',
    ]);
    assert.equal(webcam[13], '[0:v]split=2[s][r];[s]fps=15[stream];[r]scale=320:180[recording]');
  });
});

describe('recording profile: both outputs delivered', () => {
  it('sample: the 360p clip to the stream, the 720p clip to the recording, in step', async () => {
    const { clock, fake } = fakeSourceClock();
    const src = createSource(config(), memoryLogger().logger, { clock });
    assert.equal(src.recordingOutput, true);
    const stream = new CollectingSink();
    const recording = new CollectingSink();
    await src.start(stream, recording);
    fake.advance(1000);
    await src.close();
    assert.equal(stream.accessUnits.length, 31);
    assert.equal(recording.accessUnits.length, 31);
    assert.equal(widthOf(stream), 640);
    assert.equal(widthOf(recording), 1280);
    assert.equal(spsOf(recording)?.height, 720);
    assert.equal(spsOf(recording)?.profileIdc, 100, 'High profile');
  });

  it('ffmpeg: one process, the stream on stdout and the recording on fd 3 (real ffmpeg, test pattern)', async () => {
    requireTool('ffmpeg');
    // Small sizes keep the encode cheap; the two outputs still differ in size and profile.
    const c = config({
      source: 'ffmpeg',
      video: { width: 320, height: 180, bitrateBps: '300k' },
      recordVideo: { width: 640, height: 360, bitrateBps: '1M' },
    });
    const src = createSource(c, memoryLogger().logger) as ProcessSource;
    assert.ok(src.commandLine.args.includes('pipe:3'));
    const stream = new CollectingSink();
    const recording = new CollectingSink();
    try {
      await src.start(stream, recording);
      await waitFor(
        () => stream.accessUnits.length >= 10 && recording.accessUnits.length >= 10,
        'ten access units on each output',
        20_000,
      );
    } finally {
      await src.close();
    }
    assert.equal(widthOf(stream), 320);
    assert.equal(spsOf(stream)?.profileIdc, 66, 'Baseline');
    assert.equal(widthOf(recording), 640);
    assert.equal(spsOf(recording)?.profileIdc, 100, 'High');
  });

  it('gstreamer: gst-launch gets a pipe on fd 3 and both outputs are framed (fake gst-launch-1.0)', async () => {
    const { dir, cleanup } = scratchDir();
    const log = join(dir, 'launches.jsonl');
    const src = createSource(config({ source: 'gstreamer' }), memoryLogger().logger, {
      env: fakeEnv({ FAKE_ENCODER_LOG: log, FAKE_ENCODER_FRAMES: '45', FAKE_ENCODER_AFTER: 'hang' }),
      killGraceMs: 500,
    }) as ProcessSource;
    const stream = new CollectingSink();
    const recording = new CollectingSink();
    try {
      await src.start(stream, recording);
      // The last frame of each output ends only when the next begins: 44 of the 45 written.
      await waitFor(
        () => stream.accessUnits.length >= 44 && recording.accessUnits.length >= 44,
        'the frames of both outputs',
      );
      const [launch] = readLaunches(log);
      assert.deepEqual(launch?.args, gstreamerCommandLine(config({ source: 'gstreamer' }), true).args);
    } finally {
      await src.close();
      cleanup();
    }
    assert.equal(widthOf(stream), 640);
    assert.equal(widthOf(recording), 1280);
  });
});

const fakeAu = (isKey: boolean, width: number): AccessUnit => ({
  nals: [],
  isKey,
  sliceTypes: [],
  poc: null,
  structure: 'frame',
  sps: { width } as AccessUnit['sps'],
  pps: undefined,
  offset: 0,
  byteLength: 0,
});

/** A source driven by the test, with or without a recording output. */
class TwoOutputSource implements CaptureSource {
  stream: SourceSink | undefined;
  recording: SourceSink | undefined;
  private exitCb: ((e: RearviewError | undefined) => void) | undefined;
  constructor(readonly recordingOutput: boolean) {}
  readonly name = 'two';
  async start(sink: SourceSink, recordingSink?: SourceSink): Promise<void> {
    this.stream = sink;
    this.recording = recordingSink;
  }
  onExit(cb: (e: RearviewError | undefined) => void): void {
    this.exitCb = cb;
  }
  async close(): Promise<void> {
    // nothing held
  }
  exit(): void {
    this.exitCb?.(new SourceError('ERR_SOURCE_EXITED', 'encoder exited with code 1'));
  }
}

const settle = () => new Promise((r) => setImmediate(r));

describe('recording profile: the supervisor with two sinks', () => {
  function setup(recordingOutput: boolean) {
    const { clock, fake } = fakeSourceClock(0);
    const runs: TwoOutputSource[] = [];
    const stream = new CollectingSink(() => fake.now());
    const recording = new CollectingSink(() => fake.now());
    const { logger, lines } = memoryLogger();
    const supervisor = new SourceSupervisor({
      factory: () => {
        const s = new TwoOutputSource(recordingOutput);
        runs.push(s);
        return s;
      },
      sink: stream,
      recordingSink: recording,
      logger,
      clock,
      stallMs: 5000,
      backoff: { initialMs: 250 },
    });
    return { supervisor, runs, stream, recording, fake, lines };
  }

  it('a source with a recording output feeds each sink its own profile; a restart is a discontinuity on both', async () => {
    const t = setup(true);
    await t.supervisor.start();
    const run = t.runs[0]!;
    assert.ok(run.recording, 'the recording sink was handed to the source');
    run.stream!.accessUnit(fakeAu(true, 640), 0);
    run.recording!.accessUnit(fakeAu(true, 1280), 0);
    assert.deepEqual(
      t.stream.accessUnits.map((e) => e.au.sps?.width),
      [640],
    );
    assert.deepEqual(
      t.recording.accessUnits.map((e) => e.au.sps?.width),
      [1280],
    );
    run.exit();
    t.fake.advance(250);
    await settle();
    assert.equal(t.runs.length, 2);
    assert.deepEqual(t.stream.discontinuities, ['source restarted after: encoder exited with code 1']);
    assert.deepEqual(t.recording.discontinuities, ['source restarted after: encoder exited with code 1']);
    // Late output of the replaced run reaches neither hub.
    run.recording!.accessUnit(fakeAu(false, 1280), 0);
    assert.equal(t.recording.accessUnits.length, 1);
    await t.supervisor.close();
  });

  it('a recording output that falls silent stalls the run like the stream', async () => {
    const t = setup(true);
    await t.supervisor.start();
    const run = t.runs[0]!;
    for (let i = 0; i < 60; i++) {
      t.fake.advance(100);
      run.stream!.accessUnit(fakeAu(i === 0, 640), 0);
      if (i < 5) run.recording!.accessUnit(fakeAu(i === 0, 1280), 0);
    }
    await settle();
    assert.equal(t.supervisor.status().lastError?.code, 'ERR_SOURCE_STALLED');
    assert.match(t.supervisor.status().lastError?.message ?? '', /two delivered no recording video for 5000 ms/);
    await t.supervisor.close();
  });

  it('a one-stream source feeds the stream to both sinks, so the recorder records the stream', async () => {
    const t = setup(false);
    await t.supervisor.start();
    const run = t.runs[0]!;
    assert.equal(run.recording, undefined);
    run.stream!.accessUnit(fakeAu(true, 640), 0);
    run.stream!.discontinuity('looped');
    assert.equal(t.recording.accessUnits.length, 1);
    assert.deepEqual(t.recording.discontinuities, ['looped']);
    await t.supervisor.close();
  });
});
