/**
 * `rearview serve`: runs the camera daemon. With no options it streams the
 * bundled sample on 0.0.0.0:5000 and prints how to watch it. Options override
 * the config file (`--config FILE`), which overrides the defaults
 * (docs/config.md). The daemon itself is imported only when the command runs.
 */
import { type Command, Option } from 'commander';
import { CliError, ExitCode, type ExitCodeValue } from './exit-codes.js';
import type { ConfigInput, RearviewConfig } from '../config.js';
import type { RecorderService } from '../recorder/recorder-service.js';

/** One command-line option and the config key it sets ("video.width" for nested keys). */
interface ServeOption {
  flags: string;
  key: string;
  help: string;
  choices?: string[];
  /** May be given more than once; the values make a list. */
  repeatable?: boolean;
}

/** Every serve option; defaults are those of defaultConfig() (docs/config.md). */
const SERVE_OPTIONS: ServeOption[] = [
  {
    flags: '--source <spec>',
    key: 'source',
    help: 'capture source: sample | rpicam | gstreamer | ffmpeg | file:PATH | - (stdin) | tcp://HOST:PORT (default: sample)',
  },
  {
    flags: '--stream-port <port>',
    key: 'streamPort',
    help: 'TCP port of the raw H.264 stream; 0 picks a free port (default: 5000)',
  },
  {
    flags: '--api-port <port>',
    key: 'apiPort',
    help: 'HTTP API and web page port; 0 picks a free port (default: 8000)',
  },
  {
    flags: '--bind <address>',
    key: 'bind',
    help: 'address to listen on, e.g. 0.0.0.0, ::, 127.0.0.1 (default: 0.0.0.0)',
  },
  {
    flags: '--join <policy>',
    key: 'join',
    help: 'how new clients start (default: latest-keyframe; live-edge: port 5000 sends the cached keyframe alone, then live frames from the next keyframe)',
    choices: ['latest-keyframe', 'next-keyframe', 'live-edge'],
  },
  { flags: '--no-record', key: 'record', help: 'do not record segments' },
  {
    flags: '--log-level <level>',
    key: 'logLevel',
    help: 'log level (default: info)',
    choices: ['debug', 'info', 'warn', 'error', 'silent'],
  },
  { flags: '--width <pixels>', key: 'video.width', help: 'capture width for camera sources (default: 640)' },
  { flags: '--height <pixels>', key: 'video.height', help: 'capture height (default: 360)' },
  { flags: '--fps <n>', key: 'video.fps', help: 'capture frame rate (default: 30)' },
  { flags: '--bitrate <bps>', key: 'video.bitrateBps', help: 'encoder bitrate, e.g. 1M, 8M (default: 1M)' },
  { flags: '--intra <frames>', key: 'video.intraPeriod', help: 'frames between IDR pictures (default: 30)' },
  {
    flags: '--profile <profile>',
    key: 'video.profile',
    help: 'H.264 profile (default: baseline)',
    choices: ['baseline', 'main', 'high'],
  },
  {
    flags: '--level <level>',
    key: 'video.level',
    help: 'H.264 level from the standard: 1, 1b, 1.1 .. 1.3, 2 .. 2.2, 3 .. 3.2, 4 .. 4.2, 5 .. 5.2, 6 .. 6.2 (default: 4.1)',
  },
  {
    flags: '--record-profile <profile>',
    key: 'recordProfile',
    help: 'separate: record the recording profile (--record-width ...), its own encode of the same camera, where the source can do it (sample, ffmpeg, gstreamer); same: record the live stream (default: separate)',
    choices: ['same', 'separate'],
  },
  { flags: '--record-width <pixels>', key: 'recordVideo.width', help: 'recording width (default: 1280)' },
  { flags: '--record-height <pixels>', key: 'recordVideo.height', help: 'recording height (default: 720)' },
  { flags: '--record-fps <n>', key: 'recordVideo.fps', help: 'recording frame rate (default: 30)' },
  {
    flags: '--record-bitrate <bps>',
    key: 'recordVideo.bitrateBps',
    help: 'recording bitrate, e.g. 8M (default: 8M)',
  },
  {
    flags: '--device <path>',
    key: 'captureDevice',
    help: 'V4L2 device for the ffmpeg source (default: a test pattern)',
  },
  {
    flags: '--gst-pipeline <pipeline>',
    key: 'gstPipeline',
    help: 'gstreamer source pipeline, everything before "! fdsink"',
  },
  { flags: '--file-fps <n>', key: 'fileFps', help: 'frame rate of file sources without VUI timing (default: 30)' },
  {
    flags: '--source-stall <duration>',
    key: 'sourceStallMs',
    help: 'restart a source silent for this long (default: 5s)',
  },
  {
    flags: '--source-idle-close <ms>',
    key: 'sourceIdleCloseMs',
    help: 'encoder pipes and stdin: a pause this long counts as an idle point (statistics; a frame ends only when the next begins); 0 disables (default: 2)',
  },
  {
    flags: '--max-clients <n>',
    key: 'maxClients',
    help: 'most simultaneous stream clients of each kind, TCP and WebSocket (default: 32)',
  },
  {
    flags: '--max-clients-per-address <n>',
    key: 'maxClientsPerAddress',
    help: 'most simultaneous stream clients of each kind from one address (default: 4)',
  },
  {
    flags: '--webrtc-max-viewers <n>',
    key: 'webrtcMaxViewers',
    help: 'most simultaneous WebRTC (WHEP) viewers; 0 turns WebRTC off (default: 4)',
  },
  {
    flags: '--webrtc-port-min <port>',
    key: 'webrtcPortMin',
    help: 'lowest UDP port WebRTC may use; 0 with --webrtc-port-max 0: any (default: 0)',
  },
  {
    flags: '--webrtc-port-max <port>',
    key: 'webrtcPortMax',
    help: 'highest UDP port WebRTC may use (default: 0)',
  },
  {
    flags: '--client-behind-limit <duration>',
    key: 'clientBehindLimitMs',
    help: 'disconnect a client behind its soft limit for this long out of any 30 s, 1s to 30s (default: 10s)',
  },
  {
    flags: '--client-soft-limit <size>',
    key: 'clientSoftLimitBytes',
    help: 'client backlog that makes it skip to the next keyframe (default: 2MB)',
  },
  {
    flags: '--client-soft-limit-time <duration>',
    key: 'clientSoftLimitMs',
    help: 'client backlog age that makes it skip to the next keyframe (default: 500ms)',
  },
  {
    flags: '--client-hard-limit <duration>',
    key: 'clientHardLimitMs',
    help: 'disconnect a client behind with no progress for this long (default: 10s)',
  },
  { flags: '--no-timestamps', key: 'timestamps', help: 'do not insert the capture-time SEI in each frame' },
  { flags: '--gop-cache <size>', key: 'gopCacheMaxBytes', help: 'most bytes of the join cache (default: 8MB)' },
  { flags: '--gop-cache-frames <n>', key: 'gopCacheMaxFrames', help: 'most frames of the join cache (default: 300)' },
  {
    flags: '--recordings <dir>',
    key: 'recordingsDir',
    help: 'folder of the recorded segments (default: ./recordings)',
  },
  { flags: '--segment <duration>', key: 'segmentMs', help: 'segment length (default: 60s)' },
  { flags: '--max-files <n>', key: 'maxFiles', help: 'keep at most this many segments (default: 900)' },
  {
    flags: '--max-bytes <size>',
    key: 'maxBytes',
    help: 'keep at most this many bytes of segments; 0 = no limit (default: 0)',
  },
  { flags: '--min-free <size>', key: 'minFreeBytes', help: 'keep this much disk free (default: 500MB)' },
  {
    flags: '--min-free-percent <n>',
    key: 'minFreePercent',
    help: 'keep this percentage of the disk free (default: 5)',
  },
  {
    flags: '--max-protected <size|n%>',
    key: 'maxProtected',
    help: 'most space protected segments (moments) may hold, a size or a percentage of the disk; a new moment past it is refused, recording goes on (default: 25%)',
  },
  {
    flags: '--moment-before <duration>',
    key: 'momentBeforeMs',
    help: 'a moment (button, page, POST /api/v1/moments) keeps this much before the mark, 0 to 10min (default: 60s)',
  },
  {
    flags: '--moment-after <duration>',
    key: 'momentAfterMs',
    help: 'and this much after it, 0 to 10min (default: 30s)',
  },
  {
    flags: '--clip-max <duration>',
    key: 'clipMaxMs',
    help: 'longest clip GET /api/v1/clip exports, 1s to 6h (default: 1h)',
  },
  {
    flags: '--mode <mode>',
    key: 'mode',
    help: 'simultaneous (stream and record) or exclusive (default: simultaneous)',
    choices: ['simultaneous', 'exclusive'],
  },
  {
    flags: '--stream-window <duration>',
    key: 'streamWindowMs',
    help: 'exclusive mode: how long the stream waits for a client (default: 60s)',
  },
  {
    flags: '--api-token <token>',
    key: 'apiToken',
    help: 'require this token on API requests; visible to every user in ps: prefer --api-token-file or the environment variable REARVIEW_API_TOKEN (default: none)',
  },
  {
    flags: '--api-token-file <path>',
    key: 'apiTokenFile',
    help: 'read the API token from the first line of this file (mode 0600; not a symbolic link)',
  },
  {
    flags: '--trusted-networks <cidrs>',
    key: 'trustedNetworks',
    help: 'without a token, only these comma-separated client networks may change state (default: 127.0.0.0/8,::1/128,192.168.9.0/24)',
  },
  {
    flags: '--max-downloads <n>',
    key: 'maxDownloads',
    help: 'most recording downloads served at once; more get HTTP 429 (default: 4)',
  },
  {
    flags: '--allow <cidrs>',
    key: 'allowNetworks',
    help: 'comma-separated client networks allowed on both ports (default: all)',
  },
  { flags: '--no-mdns', key: 'mdns', help: 'do not advertise the camera over mDNS' },
  {
    flags: '--name <name>',
    key: 'cameraName',
    help: 'camera name for mDNS and the web page, a DNS name: letters, digits, inner hyphens and dots (default: velovision-rearview)',
  },
  {
    flags: '--publish <url>',
    key: 'publish',
    repeatable: true,
    help: 'publish the live stream to a media server, repeatable: rtsp://HOST[:PORT]/PATH, rtmp://HOST/APP/KEY, rtmps://... (certificate verified), srt://HOST:PORT?passphrase=...&latency=US, whip+https://[TOKEN@]HOST/PATH (WHIP; whip+http:// without TLS); {name} in the path is the camera name with a device suffix; #profile=record publishes the recording profile (default: none)',
  },
  {
    flags: '--publish-ca <file>',
    key: 'publishCa',
    help: 'CA certificates (PEM) to verify rtmps://, rtsps:// and whip+https:// servers with instead of the system ones',
  },
  {
    flags: '--device-backend <backend>',
    key: 'deviceBackend',
    help: 'battery/LED/button hardware: auto is linux on a Raspberry Pi, simulated elsewhere (default: auto)',
    choices: ['auto', 'linux', 'simulated'],
  },
  {
    flags: '--fuel-gauge <chip>',
    key: 'fuelGauge',
    help: 'battery fuel gauge on I2C bus 1: auto probes max17048 (0x36) then lc709203f (0x0B) (default: auto)',
    choices: ['auto', 'max17048', 'lc709203f', 'none'],
  },
  {
    flags: '--charging-gpio <line>',
    key: 'chargingGpio',
    help: 'BCM GPIO line of the charging-detect input, high = charging (default: 27)',
  },
  {
    flags: '--led-gpio <line>',
    key: 'ledGpio',
    help: 'BCM GPIO line of the status LED, 0-53 (default: 21)',
  },
  {
    flags: '--button-gpio <line>',
    key: 'buttonGpio',
    help: 'BCM GPIO line of the button, 0-53 (default: 17)',
  },
  {
    flags: '--button-pull <pull>',
    key: 'buttonPull',
    help: "the button input's bias (default: down, as on PCB v1.4)",
    choices: ['down', 'up', 'off'],
  },
  {
    flags: '--button-polarity <polarity>',
    key: 'buttonPolarity',
    help: 'which level means pressed (default: active-high, as on PCB v1.4)',
    choices: ['active-high', 'active-low'],
  },
  {
    flags: '--button-long-press <duration>',
    key: 'buttonLongPressMs',
    help: 'hold the button this long to shut the camera down, 1s-30s (default: 3s)',
  },
  {
    flags: '--gpio-interface <interface>',
    key: 'gpioInterface',
    help: "LED/button/charging lines through libgpiod's tools or sysfs (default: auto, the tools when installed)",
    choices: ['auto', 'libgpiod', 'sysfs'],
  },
  {
    flags: '--upload <s3-url>',
    key: 'upload',
    help: 'archive finished segments and thumbnails to S3-compatible storage, s3://BUCKET/PREFIX; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) or uploadCredentialsFile in the config file (default: no uploads)',
  },
  {
    flags: '--upload-endpoint <url>',
    key: 'uploadEndpoint',
    help: 'S3 endpoint, e.g. https://minio.lan:9000 or an R2/B2 endpoint (default: AWS, https://s3.REGION.amazonaws.com)',
  },
  {
    flags: '--upload-region <region>',
    key: 'uploadRegion',
    help: 'region requests are signed for (default: us-east-1)',
  },
  {
    flags: '--upload-path-style',
    key: 'uploadPathStyle',
    help: 'put the bucket in the URL path, not the host name (MinIO, most self-hosted servers)',
  },
  {
    flags: '--upload-insecure',
    key: 'uploadInsecure',
    help: 'allow a plain http:// endpoint (tests, a LAN server); without it TLS is required',
  },
  {
    flags: '--upload-profile <name>',
    key: 'uploadCredentialsProfile',
    help: 'profile ([section]) of uploadCredentialsFile to use (default: default)',
  },
  {
    flags: '--upload-ca <file>',
    key: 'uploadCa',
    help: 'PEM file of CA certificates trusted for the https endpoint besides the built-in ones (a private MinIO); or NODE_EXTRA_CA_CERTS',
  },
  {
    flags: '--upload-sse <mode>',
    key: 'uploadSse',
    help: 'server-side encryption (default: none)',
    choices: ['none', 'AES256', 'aws:kms'],
  },
  {
    flags: '--upload-when <when>',
    key: 'uploadWhen',
    help: 'upload while charging (at home, on the home Wi-Fi) or always (default: charging)',
    choices: ['charging', 'always'],
  },
  {
    flags: '--upload-rate <rate>',
    key: 'uploadRateBytes',
    help: 'upload bandwidth cap, e.g. 2MB/s; 0 = none (default: 0)',
  },
  {
    flags: '--upload-then-delete',
    key: 'uploadThenDelete',
    help: 'delete the local copy of a segment once its upload is verified',
  },
  {
    flags: '--upload-queue-max <n>',
    key: 'uploadQueueMax',
    help: 'most segments waiting to upload; past it the oldest leaves the queue (default: 1000)',
  },
  {
    flags: '--upload-part-size <size>',
    key: 'uploadPartBytes',
    help: 'multipart part size, 5MiB to 5GiB; larger segments go in parts (default: 8MiB)',
  },
];

/** Registers `rearview serve` (options only; the daemon is loaded when it runs). */
export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description(
      'run the camera daemon: raw H.264 on TCP port 5000, recording, HTTP API (defaults: the sample source on 0.0.0.0:5000)',
    )
    .option('--config <file>', 'JSON config file (docs/config.md); options given here override it')
    .option(
      '--check-config',
      'read and check the settings as serve would, print "config ok", and exit (2 when refused)',
    )
    .addHelpText(
      'after',
      `
Examples:
  rearview serve                                        the bundled sample on 0.0.0.0:5000, API and web page on :8000
  rearview serve --source rpicam --width 1280 --height 720 --bitrate 4M   the Pi camera at 720p
  rpicam-vid -t 0 --inline --codec h264 -o - | rearview serve --source -
  rearview serve --config /etc/rearview.json --mode exclusive --stream-window 90s
  rearview serve --no-record --api-port 0 --stream-port 0   free ports, printed on standard output
  rearview serve --config /etc/rearview/config.json --check-config   (the installer's check before an upgrade)

Exit codes: 0 stopped by Ctrl-C/SIGTERM (or standard input ended), 2 bad option or config file,
3 the source is not H.264, 5 cannot listen (port in use) or cannot write, 130 second Ctrl-C.
Every option and its config-file key: docs/config.md.`,
    );
  for (const o of SERVE_OPTIONS) {
    // Choices are listed in the help but checked by the config loader, so a bad value is one line and exit 2.
    const option = new Option(o.flags, o.choices ? `${o.help}; one of ${o.choices.join(', ')}` : o.help);
    if (o.repeatable)
      option.argParser((value: string, previous: unknown) => [...((previous as string[]) ?? []), value]);
    cmd.addOption(option);
  }
  cmd.action(async (_opts: Record<string, unknown>, command: Command) => {
    await runServe(command);
  });
}

/** Only the options the user actually gave, as a ConfigInput (so the file and defaults show through). */
function overridesFrom(command: Command): ConfigInput {
  const out: Record<string, unknown> = {};
  const video: Record<string, unknown> = {};
  const recordVideo: Record<string, unknown> = {};
  const values = command.opts<Record<string, unknown>>();
  for (const o of SERVE_OPTIONS) {
    const attr = new Option(o.flags).attributeName();
    if (command.getOptionValueSource(attr) !== 'cli') continue;
    const value = values[attr];
    // `--segment 60`: seconds to some readers, milliseconds to the config (its key is segmentMs).
    // Refuse the guess: a duration option needs a unit (0 is 0 either way).
    if (
      o.flags.includes('<duration>') &&
      typeof value === 'string' &&
      /^\s*\d+(\.\d+)?\s*$/.test(value) &&
      Number(value) !== 0
    ) {
      throw new CliError(
        `${o.flags.split(' ')[0]} ${value.trim()}: give a unit, e.g. ${value.trim()}s or ${value.trim()}ms`,
        ExitCode.USAGE,
      );
    }
    if (o.key.startsWith('video.')) video[o.key.slice('video.'.length)] = value;
    else if (o.key.startsWith('recordVideo.')) recordVideo[o.key.slice('recordVideo.'.length)] = value;
    else out[o.key] = value;
  }
  if (Object.keys(video).length > 0) out.video = video;
  if (Object.keys(recordVideo).length > 0) out.recordVideo = recordVideo;
  return out as ConfigInput;
}

/** A host clients can use for a bound address (wildcards become localhost). */
function watchHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** FFmpeg options for OpenCV's capture: start on the first keyframe instead of probing the stream for about 5 s. */
export const OPENCV_FAST_OPEN = 'probesize;32|analyzeduration;0|fflags;nobuffer';

/**
 * How to watch the stream: ffplay with low-latency flags, rearview nalu, the
 * tutorial's OpenCV snippet with the fast-open options (README: measured
 * time to the first frame with and without them).
 */
export function watchInstructions(host: string, port: number, fps: number): string[] {
  const h = watchHost(host);
  return [
    'watch it with:',
    `  ffplay -fflags nobuffer -flags low_delay -framedrop -probesize 32 -analyzeduration 0 -f h264 -framerate ${fps} tcp://${h}:${port}`,
    `  rearview nalu tcp://${h}:${port}`,
    '  python3 with OpenCV (the environment line makes it open in well under a second instead of about 5 s):',
    '    import os',
    `    os.environ['OPENCV_FFMPEG_CAPTURE_OPTIONS'] = '${OPENCV_FAST_OPEN}'`,
    '    import cv2',
    `    cap = cv2.VideoCapture('tcp://${h}:${port}')`,
    '    while True:',
    '        ret, frame = cap.read()',
    '        if not ret:',
    "            print('Error: Could not read frame.')",
    '            break',
    "        cv2.imshow('Video Stream', frame)",
    "        if cv2.waitKey(1) & 0xFF == ord('q'):",
    '            break',
  ];
}

function exitCodeFor(err: unknown): ExitCodeValue {
  const code = (err as { code?: unknown }).code;
  if (code === 'ERR_CONFIG') return ExitCode.USAGE;
  if (typeof code === 'string' && code.startsWith('ERR_H264')) return ExitCode.BAD_STREAM;
  return ExitCode.IO;
}

/** How long the last-resort handler waits for the daemon to close before exiting anyway, ms. */
const FATAL_CLOSE_TIMEOUT_MS = 3000;

/** SIGTERM/Ctrl-C: the most the daemon may take to close before the process exits anyway, ms (systemd waits 90 s; riders do not). */
const STOP_TIMEOUT_MS = 4000;

async function runServe(command: Command): Promise<void> {
  const { loadConfig, mergeConfig } = await import('../config.js');
  const opts = command.opts<{ config?: string; checkConfig?: boolean }>();
  let config: RearviewConfig;
  try {
    // The token may come from the environment (REARVIEW_API_TOKEN), which ps does not show.
    config = loadConfig({ file: opts.config, overrides: overridesFrom(command), env: process.env });
    // Without --config, settings changed over the API live in the recordings folder (docs/api.md).
    // That file may hold only the keys PATCH sets (never source or gstPipeline), read without following links.
    if (!opts.config) {
      const { defaultSettingsPath, readPersistedSettings } = await import('../api/settings-store.js');
      const saved = readPersistedSettings(defaultSettingsPath(config.recordingsDir));
      if (Object.keys(saved).length > 0)
        config = mergeConfig(mergeConfig(loadConfig({ env: process.env }), saved), overridesFrom(command));
    }
  } catch (err) {
    throw new CliError((err as Error).message, ExitCode.USAGE);
  }
  if (opts.checkConfig) {
    // The installer runs this with a new release before switching to it (docs/deploy.md).
    process.stdout.write(`config ok: ${opts.config ?? 'defaults'} (source ${config.source})\n`);
    return;
  }
  const { Logger } = await import('../log/logger.js');
  const { RearviewDaemon } = await import('../daemon.js');
  const logger = new Logger({ level: config.logLevel });
  // Signals are handled before the daemon is built: building it already logs (the clock), and a
  // SIGTERM at that first line must still end with exit 0.
  let daemon: InstanceType<typeof RearviewDaemon> | undefined;
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.exit(ExitCode.INTERRUPTED); // second Ctrl-C: do not wait
    }
    stopping = true;
    logger.info(`${signal}: stopping`);
    if (!daemon) process.exit(ExitCode.OK); // nothing built yet: nothing to close
    // A part that cannot finish (a hung disk) must not keep the process alive: exit anyway, and say which.
    setTimeout(() => {
      logger.error(
        `still stopping after ${STOP_TIMEOUT_MS / 1000} s (${daemon?.stoppingPart ?? 'start-up'}): exiting without waiting for it`,
      );
      process.exit(ExitCode.INTERNAL);
    }, STOP_TIMEOUT_MS).unref();
    daemon.close().then(
      () => process.exit(ExitCode.OK),
      (err: unknown) => {
        process.stderr.write(`rearview: error while stopping: ${(err as Error).message}\n`);
        process.exit(ExitCode.INTERNAL);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    daemon = new RearviewDaemon(config, { logger, configFile: opts.config });
  } catch (err) {
    throw new CliError((err as Error).message, exitCodeFor(err));
  }
  // Last resort: a bug that escapes (one missing 'error' listener is enough)
  // must not leave encoder process groups running (they are detached) or the
  // current segment unfinished. One log line, close with a cap, exit 1.
  let fatal = false;
  const lastResort =
    (what: string) =>
    (err: unknown): void => {
      if (fatal) return; // a second fault while closing: the timer below still ends the process
      fatal = true;
      stopping = true;
      const e = err instanceof Error ? err : new Error(String(err));
      const where =
        (e.stack ?? '')
          .split('\n')
          .find((l) => l.trim().startsWith('at '))
          ?.trim() ?? '';
      logger.error(`${what}: ${e.message}${where ? ` (${where})` : ''}; stopping`);
      logger.debug(e.stack ?? e.message);
      setTimeout(() => process.exit(ExitCode.INTERNAL), FATAL_CLOSE_TIMEOUT_MS);
      daemon.close().finally(() => process.exit(ExitCode.INTERNAL));
    };
  process.on('uncaughtException', lastResort('uncaught exception'));
  process.on('unhandledRejection', lastResort('unhandled rejection'));
  // Standard input (`rpicam-vid ... | rearview serve --source -`) cannot be
  // restarted: when it ends, finish recordings and exit like any pipe consumer.
  daemon.onSourceStopped((error) => {
    if (stopping) return;
    stopping = true;
    logger.info(`source stopped (${error.message}): stopping`);
    daemon.close().then(
      () => process.exit(ExitCode.OK),
      () => process.exit(ExitCode.INTERNAL),
    );
  });

  try {
    await daemon.start();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    let message = e.message;
    if (e.code === 'EADDRINUSE')
      message = `cannot listen: address in use (${message}); pick another port with --stream-port / --api-port`;
    else if (e.code === 'EACCES')
      message = `cannot listen: permission denied (${message}); ports below 1024 need privileges`;
    throw new CliError(message, exitCodeFor(err));
  }
  const stream = daemon.streamAddress as { host: string; port: number };
  const lines = [`stream listening on tcp://${urlHost(stream.host)}:${stream.port}`];
  if (daemon.apiAddress)
    lines.push(`api listening on http://${urlHost(daemon.apiAddress.host)}:${daemon.apiAddress.port}`);
  // Streaming without recording is a dashcam that does not do its job: say so where the user looks.
  const recorder = daemon.services.find((s) => s.name === 'recorder') as RecorderService | undefined;
  if (recorder?.error) lines.push(recorder.error);
  lines.push(...watchInstructions(stream.host, stream.port, config.video.fps));
  process.stdout.write(`${lines.join('\n')}\n`);
  // Runs until a signal closes the daemon.
}
