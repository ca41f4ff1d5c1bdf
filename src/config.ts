/**
 * The daemon's one typed configuration object, with documented defaults
 * (docs/config.md). Sources of values, lowest to highest priority: defaults,
 * the JSON config file (`--config FILE`), command-line options. Human units
 * ("60s", "2GB") are accepted in the file and on the command line and parsed
 * once here; inside, everything is integers with the unit in the name.
 */
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from './errors.js';
import type { LogLevel } from './log/logger.js';
import { readSecretFile } from './util/secret-file.js';
import { isTcpUrl, parseStreamAddress } from './util/stream-address.js';
import { parsePublishTarget } from './util/publish-url.js';
import { parseBytes, parseDurationMs } from './util/units.js';
import { compileAllowList } from './api/network-allow-list.js';
import { IceServerError, parseIceServers, type IceServerConfig } from './util/ice-servers.js';

/** How a new TCP/WebSocket client joins the live stream (docs/protocol.md "Joining"). */
export type JoinPolicy = 'latest-keyframe' | 'next-keyframe' | 'live-edge';

/** simultaneous: stream and record always; exclusive: the device's earlier streaming window. */
export type CameraMode = 'simultaneous' | 'exclusive';

/**
 * Where recordings come from: `separate` (the recording profile `recordVideo`,
 * its own encode of the same capture, where the source can do it) or `same`
 * (the recorder records the live stream).
 */
export type RecordProfile = 'same' | 'separate';

/** Which hardware backends to use: real Linux devices, simulated stand-ins, or detect. */
export type DeviceBackend = 'auto' | 'linux' | 'simulated';

/** How GPIO lines are reached: libgpiod's tools (character device), sysfs, or the best found. */
export type GpioInterfaceName = 'auto' | 'libgpiod' | 'sysfs';
/** The battery fuel gauge chip: the device's MAX17048 (0x36), an LC709203F (0x0B), probe both, or none. */
export type FuelGaugeChoice = 'auto' | 'max17048' | 'lc709203f' | 'none';

/** Encoder settings used by the process sources (rpicam, gstreamer, ffmpeg). */
export interface VideoSettings {
  /** Pixels. Default 640x360 as on the device. */
  width: number;
  height: number;
  /** Frames per second. Default 30. */
  fps: number;
  /** Bits per second. Default 1_000_000. */
  bitrateBps: number;
  /** Frames between IDR pictures. Default 30 (one per second). */
  intraPeriod: number;
  /** H.264 profile for encoders that take one. Default 'baseline'. */
  profile: 'baseline' | 'main' | 'high';
  /** H.264 level, one of H264_LEVELS. Default '4.1'. */
  level: H264Level;
}

/** The H.264 levels of the standard (ITU-T H.264 Table A-1), as encoders spell them. */
export const H264_LEVELS = [
  '1',
  '1b',
  '1.1',
  '1.2',
  '1.3',
  '2',
  '2.1',
  '2.2',
  '3',
  '3.1',
  '3.2',
  '4',
  '4.1',
  '4.2',
  '5',
  '5.1',
  '5.2',
  '6',
  '6.1',
  '6.2',
] as const;

/** One H.264 level. */
export type H264Level = (typeof H264_LEVELS)[number];

/** The complete daemon configuration. */
export interface RearviewConfig {
  /** Capture source: sample | rpicam | gstreamer | ffmpeg | file:PATH | - | tcp://host:port. Default 'sample'. */
  source: string;
  /** The stream profile: port 5000, the WebSocket and every live output. */
  video: VideoSettings;
  /** Recordings: `separate` (their own profile, recordVideo) where the source can do it, else the stream's. Default 'separate'. */
  recordProfile: RecordProfile;
  /** The recording profile (with recordProfile `separate`). Default 1280x720, 30 fps, 8 Mbit/s, High. */
  recordVideo: VideoSettings;
  /** V4L2 device for the ffmpeg source; undefined means a test pattern. */
  captureDevice: string | undefined;
  /** Overrides the gstreamer source's pipeline (everything before `! fdsink`). */
  gstPipeline: string | undefined;
  /** Frame rate for file sources without VUI timing. Default 30. */
  fileFps: number;
  /** A source with no data for this long is restarted. Default 5000 ms. */
  sourceStallMs: number;
  /** Encoder pipes and stdin: a pause this long after a drained read counts as an idle point (ms, integer; statistics only, it never ends a frame); 0 disables. Default 2. */
  sourceIdleCloseMs: number;

  /** TCP port of the raw H.264 stream; 0 picks a free port. Default 5000. */
  streamPort: number;
  /** HTTP API and web page port; 0 picks a free port. Default 8000. */
  apiPort: number;
  /** Address to bind both servers to. Default '0.0.0.0'. */
  bind: string;
  /** How new clients join. Default 'latest-keyframe'. */
  join: JoinPolicy;
  /** Most simultaneous stream clients of each kind (TCP on port 5000; WebSocket viewers): one slot pool per kind. Default 32. */
  maxClients: number;
  /** Most simultaneous stream clients from one address, per kind. Default 4. */
  maxClientsPerAddress: number;
  /** Most simultaneous WebRTC (WHEP) viewers, in their own pool; 0 turns WebRTC off. Default 4. */
  webrtcMaxViewers: number;
  /** UDP ports WebRTC's ICE may use, inclusive; 0 and 0: any port. Default 0, 0. */
  webrtcPortMin: number;
  webrtcPortMax: number;
  /**
   * STUN/TURN servers for WebRTC viewers beyond the camera's own network; none by default (host
   * candidates serve the camera's Wi-Fi). Config file only: TURN credentials are secrets.
   */
  webrtcIceServers: IceServerConfig[];
  /** A client behind its soft limit for this long out of any 30 s is dropped. Default 10000 ms. */
  clientBehindLimitMs: number;
  /** A client whose backlog exceeds this many bytes or ms skips to the next keyframe. Defaults 2 MB, 500 ms. */
  clientSoftLimitBytes: number;
  clientSoftLimitMs: number;
  /** A client over the soft limit that makes no progress for this long is disconnected. Default 10000 ms. */
  clientHardLimitMs: number;
  /** Insert the capture-time SEI in every access unit. Default true. */
  timestamps: boolean;
  /** Bounds of the cache that lets a new client start at the latest keyframe. Defaults 8 MB, 300 frames. */
  gopCacheMaxBytes: number;
  gopCacheMaxFrames: number;

  /** Record to segments while streaming. Default true. */
  record: boolean;
  /** Folder of the segments. Default './recordings'. */
  recordingsDir: string;
  /** Segment length; cut at the first keyframe after it. Default 60000 ms. */
  segmentMs: number;
  /** Rotation limits (whichever comes first). Defaults: 900 files, no byte limit (0). */
  maxFiles: number;
  maxBytes: number;
  /** Keep at least this much disk free: bytes and percent, both enforced. Defaults 500 MB, 5 %. */
  minFreeBytes: number;
  minFreePercent: number;
  /**
   * Cap on protected segments (moments, ...): a size, or a percentage of the disk.
   * Older protected segments past it may be deleted, so recording never stops. Default 25 %.
   */
  maxProtected: ProtectedCap;
  /** A moment keeps the recording from this long before the mark. Default 60000 ms. */
  momentBeforeMs: number;
  /** ... to this long after it. Default 30000 ms. */
  momentAfterMs: number;
  /** Longest clip `GET /api/v1/clip` exports. Default 3600000 ms (1 h). */
  clipMaxMs: number;

  /** Streaming/recording modes. Default 'simultaneous'. */
  mode: CameraMode;
  /** Exclusive mode: how long the stream stays open waiting for a client. Default 60000 ms. */
  streamWindowMs: number;

  /** Most recording downloads served at once by the HTTP API; more get 429. Default 4. */
  maxDownloads: number;
  /** When set, every API request must carry this token (Authorization: Bearer, or the pairing cookie). */
  apiToken: string | undefined;
  /** File the token was read from (by mergeConfig, into apiToken), so it never appears on a command line. */
  apiTokenFile: string | undefined;
  /** Without a token, only clients in these networks (CIDR) may make state-changing requests. */
  trustedNetworks: string[];
  /** When non-empty, only these client networks (CIDR) may use ports 5000 and 8000. */
  allowNetworks: string[];
  /** Advertise the camera over mDNS/DNS-SD. Default true. */
  mdns: boolean;
  /** Name advertised over mDNS and shown in the web page. Default 'velovision-rearview'. */
  cameraName: string;
  /** Hardware backends. Default 'auto'. */
  deviceBackend: DeviceBackend;
  /** Fuel gauge chip on I2C bus 1 (Linux backend). Default 'auto': MAX17048 at 0x36, then LC709203F at 0x0B. */
  fuelGauge: FuelGaugeChoice;
  /** BCM GPIO line of the charging-detect input (high = charging). Default 27, the device's I/O board. */
  chargingGpio: number;
  /** BCM GPIO line of the status LED. Default 21. */
  ledGpio: number;
  /** BCM GPIO line of the button. Default 17. */
  buttonGpio: number;
  /** The button's bias. Default 'down' (PCB v1.4). */
  buttonPull: 'down' | 'up' | 'off';
  /** Which level is pressed. Default 'active-high' (PCB v1.4: HIGH = pressed). */
  buttonPolarity: 'active-high' | 'active-low';
  /** Hold that shuts the camera down. Default 3000 ms. */
  buttonLongPressMs: number;
  /** GPIO interface. Default 'auto' (libgpiod's tools when installed, else sysfs). */
  gpioInterface: GpioInterfaceName;
  /**
   * Media servers the live stream is published to (rtsp://, rtsps://, rtmp://, rtmps://, srt://, whip+https://,
   * whip+http:// URLs; `{name}` in the path is the camera's fleet name, `#profile=record` publishes the
   * recording profile). Config file and command line only; shown masked. Default none.
   */
  publish: string[];
  /** CA certificates (PEM) that rtmps://, rtsps:// and whip+https:// servers are verified against instead of the system's. */
  publishCa: string | undefined;
  /** Log level. Default 'info'. */
  logLevel: LogLevel;

  /**
   * Archive finished segments to S3-compatible object storage: `s3://BUCKET/PREFIX`.
   * Undefined: no uploads (the upload code is not even loaded). Operator only (docs/recording.md, "Uploads").
   */
  upload: string | undefined;
  /** S3 endpoint URL (MinIO, R2, B2, ...); undefined: AWS (`https://s3.REGION.amazonaws.com`). */
  uploadEndpoint: string | undefined;
  /** Region the requests are signed for. Default 'us-east-1'. */
  uploadRegion: string;
  /** Bucket in the URL path instead of the host name (MinIO and most self-hosted servers). Default false. */
  uploadPathStyle: boolean;
  /** Allow a plain http:// endpoint (tests, a LAN MinIO). Default false: TLS required. */
  uploadInsecure: boolean;
  /** File holding the access keys (mode 0600; AWS credentials-file keys). Default: the AWS_* environment variables. */
  uploadCredentialsFile: string | undefined;
  /** Profile (`[section]`) of the credentials file to use. Default 'default' (a file without sections: its keys). */
  uploadCredentialsProfile: string;
  /** PEM file of CA certificates trusted for an https endpoint besides Node's built-in roots (a private MinIO's CA). */
  uploadCa: string | undefined;
  /** Server-side encryption asked for: none, AES256 (SSE-S3) or aws:kms (the bucket's default key). Default 'none'. */
  uploadSse: UploadSse;
  /** When uploads run: while charging (at home, on the home Wi-Fi) or always. Default 'charging'. */
  uploadWhen: 'charging' | 'always';
  /** Upload bandwidth cap, bytes per second; 0 = none. Default 0. */
  uploadRateBytes: number;
  /** Delete the local copy of a segment once its upload is verified. Default false. */
  uploadThenDelete: boolean;
  /** Most segments waiting in the upload queue; past it the oldest is dropped from the queue. Default 1000. */
  uploadQueueMax: number;
  /** Multipart part size (segments larger than this go in parts). Default 8 MiB. */
  uploadPartBytes: number;
}

/** Server-side encryption of uploads. */
export type UploadSse = 'none' | 'AES256' | 'aws:kms';

/**
 * Default `trustedNetworks`: loopback and the device's own hotspot subnet
 * (the camera is 192.168.9.1 on its Wi-Fi; docs/config.md says why a fixed
 * list rather than the host's interfaces).
 */
export const DEFAULT_TRUSTED_NETWORKS: readonly string[] = ['127.0.0.0/8', '::1/128', '192.168.9.0/24'];

/**
 * What an API token may contain: cookie-safe printable ASCII (RFC 6265
 * cookie-octet: no space, quote, comma, semicolon or backslash), so it
 * travels unchanged in `Authorization: Bearer` and in the pairing cookie.
 */
export const API_TOKEN_PATTERN = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]{1,1024}$/;

/** Environment variable `rearview serve` reads the API token from (not shown by `ps`, unlike --api-token). */
export const API_TOKEN_ENV = 'REARVIEW_API_TOKEN';

/** The defaults, as documented in docs/config.md. */
export function defaultConfig(): RearviewConfig {
  return {
    source: 'sample',
    video: {
      width: 640,
      height: 360,
      fps: 30,
      bitrateBps: 1_000_000,
      intraPeriod: 30,
      profile: 'baseline',
      level: '4.1',
    },
    recordProfile: 'separate',
    recordVideo: {
      width: 1280,
      height: 720,
      fps: 30,
      bitrateBps: 8_000_000,
      intraPeriod: 30,
      profile: 'high',
      level: '4.1',
    },
    captureDevice: undefined,
    gstPipeline: undefined,
    fileFps: 30,
    sourceStallMs: 5000,
    sourceIdleCloseMs: 2,
    streamPort: 5000,
    apiPort: 8000,
    bind: '0.0.0.0',
    join: 'latest-keyframe',
    maxClients: 32,
    maxClientsPerAddress: 4,
    webrtcMaxViewers: 4,
    webrtcPortMin: 0,
    webrtcPortMax: 0,
    webrtcIceServers: [],
    clientBehindLimitMs: 10_000,
    clientSoftLimitBytes: 2_000_000,
    clientSoftLimitMs: 500,
    clientHardLimitMs: 10_000,
    timestamps: true,
    gopCacheMaxBytes: 8_000_000,
    gopCacheMaxFrames: 300,
    record: true,
    recordingsDir: './recordings',
    segmentMs: 60_000,
    maxFiles: 900,
    maxBytes: 0,
    minFreeBytes: 500_000_000,
    minFreePercent: 5,
    maxProtected: { percent: 25 },
    momentBeforeMs: 60_000,
    momentAfterMs: 30_000,
    clipMaxMs: 3_600_000,
    mode: 'simultaneous',
    streamWindowMs: 60_000,
    maxDownloads: 4,
    apiToken: undefined,
    apiTokenFile: undefined,
    trustedNetworks: [...DEFAULT_TRUSTED_NETWORKS],
    allowNetworks: [],
    mdns: true,
    cameraName: 'velovision-rearview',
    deviceBackend: 'auto',
    fuelGauge: 'auto',
    chargingGpio: 27,
    ledGpio: 21,
    buttonGpio: 17,
    buttonPull: 'down',
    buttonPolarity: 'active-high',
    buttonLongPressMs: 3000,
    gpioInterface: 'auto',
    publish: [],
    publishCa: undefined,
    logLevel: 'info',
    upload: undefined,
    uploadEndpoint: undefined,
    uploadRegion: 'us-east-1',
    uploadPathStyle: false,
    uploadInsecure: false,
    uploadCredentialsFile: undefined,
    uploadCredentialsProfile: 'default',
    uploadCa: undefined,
    uploadSse: 'none',
    uploadWhen: 'charging',
    uploadRateBytes: 0,
    uploadThenDelete: false,
    uploadQueueMax: 1000,
    uploadPartBytes: 8 * 1024 * 1024,
  };
}

/**
 * A partial config as written in a JSON file or given on the command line:
 * durations and sizes may be strings ("60s", "2GB"), video settings partial.
 */
export type ConfigInput = {
  [K in keyof RearviewConfig]?: K extends 'video' | 'recordVideo'
    ? Partial<Record<keyof VideoSettings, string | number>>
    : K extends 'webrtcIceServers'
      ? (string | IceServerConfig)[]
      : RearviewConfig[K] | string | number | boolean | string[];
};

/*
 * The one schema of every setting: a closed set or an inclusive range per key.
 * The config file, the command line and PATCH /api/v1/settings all go through
 * mergeConfig, so a value refused here is refused everywhere, and the command
 * lines of the capture sources are built only from values that passed here.
 * Every key named ...Ms is a duration: a string takes a unit ("60s"), a bare
 * number (JSON or CLI) is milliseconds.
 */
const ENUMS: Record<string, readonly string[]> = {
  join: ['latest-keyframe', 'next-keyframe', 'live-edge'],
  mode: ['simultaneous', 'exclusive'],
  deviceBackend: ['auto', 'linux', 'simulated'],
  buttonPull: ['down', 'up', 'off'],
  buttonPolarity: ['active-high', 'active-low'],
  gpioInterface: ['auto', 'libgpiod', 'sysfs'],
  fuelGauge: ['auto', 'max17048', 'lc709203f', 'none'],
  logLevel: ['debug', 'info', 'warn', 'error', 'silent'],
  'video.profile': ['baseline', 'main', 'high'],
  'video.level': H264_LEVELS,
  recordProfile: ['same', 'separate'],
  uploadSse: ['none', 'AES256', 'aws:kms'],
  uploadWhen: ['charging', 'always'],
  'recordVideo.profile': ['baseline', 'main', 'high'],
  'recordVideo.level': H264_LEVELS,
};
/**
 * Lowest and highest sensible value of each duration. A bare number is
 * milliseconds, so an old file's `"sourceStallMs": 5` meant as seconds would
 * otherwise load as 5 ms (a restart loop) instead of being refused with a
 * hint. The highest values stay far below the 24.8-day limit of timers.
 */
const DURATION_RANGE_MS: Record<string, readonly [number, number]> = {
  segmentMs: [1000, 3_600_000],
  // A moment is about an event, not a ride: at most 10 min either side (the --max-protected cap bounds the bytes).
  momentBeforeMs: [0, 600_000],
  momentAfterMs: [0, 600_000],
  clipMaxMs: [1000, 6 * 3_600_000],
  sourceStallMs: [500, 600_000],
  sourceIdleCloseMs: [0, 10_000],
  clientSoftLimitMs: [50, 60_000],
  clientHardLimitMs: [1000, 3_600_000],
  clientBehindLimitMs: [1000, 30_000],
  streamWindowMs: [1000, 86_400_000],
  // Above the 600 ms of a short press; at most 30 s, so a stuck setting cannot make the button useless.
  buttonLongPressMs: [1000, 30_000],
};
/** Segment numbers run log0000..log9999 and wrap: more files than that cannot be kept apart. */
const MAX_FILES_LIMIT = 9999;
/**
 * Inclusive range of every integer. Video values reach the encoders' command
 * lines, so they are bounded by what an H.264 encoder can take: sizes up to
 * 4096 (even: 4:2:0 chroma), 1..120 fps, an IDR at least every 3600 frames
 * (a minute at 60 fps, the default segment length).
 */
const INT_RANGES: Record<string, readonly [number, number]> = {
  streamPort: [0, 65_535],
  apiPort: [0, 65_535],
  maxClients: [1, 10_000],
  maxClientsPerAddress: [1, 10_000],
  webrtcMaxViewers: [0, 64],
  webrtcPortMin: [0, 65_535],
  webrtcPortMax: [0, 65_535],
  maxDownloads: [1, 1000],
  gopCacheMaxFrames: [0, 100_000],
  maxFiles: [1, MAX_FILES_LIMIT],
  minFreePercent: [0, 100],
  fileFps: [1, 120],
  uploadQueueMax: [1, 100_000],
  // BCM lines of the Pi's pin controller (0-53): they become arguments of libgpiod's tools.
  chargingGpio: [0, 53],
  ledGpio: [0, 53],
  buttonGpio: [0, 53],
  'video.width': [16, 4096],
  'video.height': [16, 4096],
  'video.fps': [1, 120],
  'video.intraPeriod': [1, 3600],
  'recordVideo.width': [16, 4096],
  'recordVideo.height': [16, 4096],
  'recordVideo.fps': [1, 120],
  'recordVideo.intraPeriod': [1, 3600],
};
/** Integers that must be even (the frame size: 4:2:0 chroma halves it). */
const EVEN_INT_KEYS = new Set(['video.width', 'video.height', 'recordVideo.width', 'recordVideo.height']);
/** Inclusive range of every size; bitrates from 10 kbit/s to 200 Mbit/s (the Pi's encoder tops out near 25). */
const BYTE_RANGES: Record<string, readonly [number, number]> = {
  'video.bitrateBps': [10_000, 200_000_000],
  'recordVideo.bitrateBps': [10_000, 200_000_000],
  clientSoftLimitBytes: [0, 1_000_000_000],
  gopCacheMaxBytes: [0, 1_000_000_000],
  maxBytes: [0, Number.MAX_SAFE_INTEGER],
  minFreeBytes: [0, Number.MAX_SAFE_INTEGER],
  uploadRateBytes: [0, 10_000_000_000],
  // S3's multipart limits: parts of 5 MiB to 5 GiB.
  uploadPartBytes: [5 * 1024 * 1024, 5 * 1024 ** 3],
};
const BOOL_KEYS = new Set(['timestamps', 'record', 'mdns', 'uploadPathStyle', 'uploadInsecure', 'uploadThenDelete']);
const OPTIONAL_STRING_KEYS = new Set([
  'captureDevice',
  'gstPipeline',
  'apiToken',
  'apiTokenFile',
  'upload',
  'uploadEndpoint',
  'uploadCredentialsFile',
  'publishCa',
  'uploadCa',
]);
/** Most publishing targets: each is an ffmpeg process on a 512 MB camera. */
const MAX_PUBLISH_TARGETS = 8;
/**
 * A camera name is a DNS host name: labels of letters, digits and inner
 * hyphens (1 to 63 characters), joined by dots, 253 at most. It is advertised
 * over mDNS and compared with the Host header (docs/api.md).
 */
const CAMERA_NAME_RE =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;
/** Control characters (NUL, tab, newline, ...): never part of a path, an address, a source or a token. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL_CHAR_RE = /[\u0000-\u001f\u007f]/;

/** A size cap: bytes, or a percentage of the disk. */
export type ProtectedCap = { bytes: number } | { percent: number };

/** "25%" (of the disk), "2GB" or a number of bytes (as in a config file); an object as normalised already. */
function parseProtectedCap(value: unknown): ProtectedCap {
  if (typeof value === 'object' && value !== null) {
    const v = value as Record<string, unknown>;
    if (Object.keys(v).length === 1 && typeof v.percent === 'number') return parseProtectedCap(`${v.percent}%`);
    if (Object.keys(v).length === 1 && typeof v.bytes === 'number')
      return { bytes: parseBytes(v.bytes, 'maxProtected') };
  }
  if (typeof value === 'string' && value.trim().endsWith('%')) {
    const percent = Number(value.trim().slice(0, -1));
    if (!(percent >= 0 && percent <= 100))
      throw new ConfigError(`maxProtected: expected a percentage from 0% to 100%, got ${JSON.stringify(value)}`);
    return { percent };
  }
  if (typeof value === 'string' || typeof value === 'number') return { bytes: parseBytes(value, 'maxProtected') };
  throw new ConfigError(
    `maxProtected: expected a size (2GB) or a percentage of the disk (25%), got ${JSON.stringify(value)}`,
  );
}

function normaliseValue(key: string, value: unknown): unknown {
  if (key === 'maxProtected') return parseProtectedCap(value);
  if (key === 'webrtcIceServers') {
    try {
      return parseIceServers(value);
    } catch (err) {
      if (err instanceof IceServerError) throw new ConfigError(err.message);
      throw err;
    }
  }
  const durationRange = DURATION_RANGE_MS[key];
  if (durationRange) {
    const ms = parseDurationMs(value as string | number, key, 'ms');
    const [min, max] = durationRange;
    if (ms < min) {
      throw new ConfigError(
        `${key}: ${ms} ms is below ${min} ms (a bare number is milliseconds: write "5s" for seconds)`,
      );
    }
    // Behind time is summed over a sliding 30 s window (src/outputs/client-slots.ts): a longer limit could never be reached.
    if (key === 'clientBehindLimitMs' && ms > 30_000)
      throw new ConfigError(`clientBehindLimitMs: ${ms} ms is over the 30 s window it is counted in`);
    if (ms > max) throw new ConfigError(`${key}: ${ms} ms is above ${max} ms`);
    return ms;
  }
  const byteRange = BYTE_RANGES[key];
  if (byteRange) {
    // Bitrates are written like sizes ("1M" = 1,000,000 bits per second); a rate may say so ("2MB/s").
    const text = key === 'uploadRateBytes' && typeof value === 'string' ? value.replace(/\/s\s*$/i, '') : value;
    const n = parseBytes(text as string | number, key);
    const [min, max] = byteRange;
    if (n < min || n > max) throw new ConfigError(`${key}: expected ${min} to ${max}, got ${n}`);
    return n;
  }
  const intRange = INT_RANGES[key];
  if (intRange) {
    // Only plain decimal digits: Number() would also take " 30", "0x1e", "1e3".
    const n = typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : value;
    const [min, max] = intRange;
    if (key === 'maxFiles' && typeof n === 'number' && Number.isInteger(n) && (n < min || n > max)) {
      throw new ConfigError(
        `maxFiles: expected 1 to ${MAX_FILES_LIMIT} (segments are numbered log0000..log9999), got ${n}`,
      );
    }
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(
        `${key}: expected an integer from ${min} to ${max}${EVEN_INT_KEYS.has(key) ? ' (even)' : ''}, got ${JSON.stringify(value)}`,
      );
    }
    if (EVEN_INT_KEYS.has(key) && n % 2 !== 0)
      throw new ConfigError(`${key}: expected an even number (4:2:0 video), got ${n}`);
    return n;
  }
  if (BOOL_KEYS.has(key)) {
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === 'false') return value === 'true';
    throw new ConfigError(`${key}: expected true or false, got ${JSON.stringify(value)}`);
  }
  const allowed = ENUMS[key];
  if (allowed) {
    // A JSON file may write a level as a number (4.1); it is the same level.
    const text = key.endsWith('.level') && typeof value === 'number' ? String(value) : value;
    if (typeof text !== 'string' || !allowed.includes(text))
      throw new ConfigError(`${key}: expected one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
    return text;
  }
  if (key === 'allowNetworks' || key === 'trustedNetworks') {
    const list =
      typeof value === 'string'
        ? value
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : value;
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && !CONTROL_CHAR_RE.test(s)))
      throw new ConfigError(`${key}: expected a list of CIDR networks`);
    compileAllowList(list, key); // a bad network is refused when the config loads, naming the entry
    return list;
  }
  if (key === 'cameraName') {
    if (typeof value !== 'string' || !CAMERA_NAME_RE.test(value)) {
      throw new ConfigError(
        `cameraName: expected a DNS name (letters, digits and inner hyphens, 1 to 63 per dot-separated label), got ${JSON.stringify(value)}`,
      );
    }
    return value;
  }
  if (key === 'source') return checkSourceForm(value);
  if (key === 'publish') {
    // One URL (the command line's repeated --publish gives a list), or a list in the file.
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list)) throw new ConfigError('publish: expected a list of URLs');
    if (list.length > MAX_PUBLISH_TARGETS)
      throw new ConfigError(`publish: at most ${MAX_PUBLISH_TARGETS} targets, got ${list.length}`);
    for (const entry of list) parsePublishTarget(entry); // throws naming the masked URL
    return [...list] as string[];
  }
  if (OPTIONAL_STRING_KEYS.has(key)) {
    if (value === undefined || value === null || value === '') return undefined;
  }
  if (key === 'apiToken' && (typeof value !== 'string' || !API_TOKEN_PATTERN.test(value))) {
    // Never echo the value: it is a secret.
    throw new ConfigError(
      'apiToken: use printable ASCII without spaces, quotes, commas, semicolons or backslashes (e.g. the output of: openssl rand -hex 32)',
    );
  }
  if (typeof value !== 'string') throw new ConfigError(`${key}: expected a string, got ${JSON.stringify(value)}`);
  // The pipeline is split on whitespace (tabs, newlines) like a shell line; nothing else takes control characters.
  if (key !== 'gstPipeline' && CONTROL_CHAR_RE.test(value))
    throw new ConfigError(`${key}: control characters are not allowed, got ${JSON.stringify(value)}`);
  if (key === 'upload') parseUploadTarget(value);
  if (key === 'uploadEndpoint') parseUploadEndpoint(value);
  if (key === 'uploadCredentialsProfile' && !/^[A-Za-z0-9_.+@-]{1,64}$/.test(value))
    throw new ConfigError(
      `uploadCredentialsProfile: expected a profile name of letters, digits and _.+@- (1 to 64), got ${JSON.stringify(value)}`,
    );
  if (key === 'uploadRegion' && !/^[a-z0-9-]{1,32}$/.test(value))
    throw new ConfigError(`uploadRegion: expected a region name such as eu-central-1, got ${JSON.stringify(value)}`);
  if (key === 'publishCa') checkReadableFile(value, key);
  if (key === 'captureDevice' && !value.startsWith('/'))
    throw new ConfigError(
      `captureDevice: expected an absolute device path such as /dev/video0, got ${JSON.stringify(value)}`,
    );
  return value;
}

/** Where uploads go, from `s3://BUCKET/PREFIX`: the prefix is '' or ends in '/'. */
export interface UploadTarget {
  bucket: string;
  prefix: string;
}

/**
 * Parses `s3://BUCKET/PREFIX`. The bucket follows S3's naming rules; the
 * prefix may hold only S3's safe key characters (letters, digits and
 * `!-_.*'()/`), no empty, `.` or `..` segment: it becomes part of every
 * object key and nothing else.
 */
export function parseUploadTarget(value: string): UploadTarget {
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(value);
  const bucket = m?.[1] ?? '';
  if (!m || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes('..'))
    throw new ConfigError(
      `upload: expected s3://BUCKET/PREFIX with a bucket name of 3 to 63 lowercase letters, digits, dots and hyphens, got ${JSON.stringify(value)}`,
    );
  const raw = (m[2] ?? '').replace(/\/+$/, '');
  if (raw !== '') {
    const segments = raw.split('/');
    if (!/^[A-Za-z0-9!_.*'()/-]{1,512}$/.test(raw) || segments.some((s) => s === '' || s === '.' || s === '..'))
      throw new ConfigError(
        `upload: the prefix may hold letters, digits and !-_.*'()/ in non-empty segments (no . or ..), got ${JSON.stringify(raw)}`,
      );
  }
  return { bucket, prefix: raw === '' ? '' : `${raw}/` };
}

/** Parses the endpoint: an http(s) URL of a host (and port), nothing else (no path, query or user). */
export function parseUploadEndpoint(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(
      `uploadEndpoint: expected a URL such as https://minio.lan:9000, got ${JSON.stringify(value)}`,
    );
  }
  if (
    (url.protocol !== 'https:' && url.protocol !== 'http:') ||
    url.username ||
    url.password ||
    (url.pathname !== '/' && url.pathname !== '') ||
    url.search ||
    url.hash
  )
    throw new ConfigError(
      `uploadEndpoint: expected http(s)://HOST[:PORT] with no path, query or user, got ${JSON.stringify(value)}`,
    );
  return url;
}

/**
 * Checks the upload settings together (after every layer is merged): a
 * plain http:// endpoint needs uploadInsecure (credentials and recordings
 * would cross the network unencrypted).
 */
export function checkUploadConfig(config: RearviewConfig): void {
  if (config.upload === undefined) return;
  if (config.uploadEndpoint !== undefined) {
    const url = parseUploadEndpoint(config.uploadEndpoint);
    if (url.protocol === 'http:' && !config.uploadInsecure)
      throw new ConfigError(
        `uploadEndpoint ${url.origin} is plain http: uploads require TLS (https://); --upload-insecure allows http for tests and a LAN server`,
      );
    if (url.protocol === 'http:' && config.uploadCa !== undefined)
      throw new ConfigError(`uploadCa is for an https:// endpoint; ${url.origin} is plain http`);
  }
}

/** A file the daemon will read later (a CA bundle): a regular file now, so a typo is one line at start-up. */
function checkReadableFile(path: string, key: string): void {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch (err) {
    throw new ConfigError(
      `${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  if (!stat.isFile()) throw new ConfigError(`${key}: ${path} is not a regular file`);
}

/** The forms of `source`: checked when the config loads, before any port is bound. */
const SOURCE_NAMES = ['sample', 'rpicam', 'gstreamer', 'ffmpeg', '-'];

function checkSourceForm(value: unknown): string {
  const expected = `expected one of ${SOURCE_NAMES.join(', ')}, file:PATH, tcp://HOST:PORT`;
  if (typeof value !== 'string') throw new ConfigError(`source: ${expected}, got ${JSON.stringify(value)}`);
  if (CONTROL_CHAR_RE.test(value))
    throw new ConfigError(`source: control characters are not allowed, got ${JSON.stringify(value)}`);
  const spec = value.trim();
  if (SOURCE_NAMES.includes(spec)) return spec;
  if (spec.startsWith('file:')) {
    if (spec.length === 'file:'.length) throw new ConfigError('source "file:" needs a path, e.g. file:ride.h264');
    return spec;
  }
  if (isTcpUrl(spec)) {
    parseStreamAddress(spec); // throws ConfigError naming what is wrong with the address
    return spec;
  }
  throw new ConfigError(`source: unknown source ${JSON.stringify(value)}: ${expected}`);
}

/**
 * Applies `input` over `base` (neither is modified), validating and
 * converting every value. Unknown keys are an error, so typos are caught.
 */
export function mergeConfig(base: RearviewConfig, input: ConfigInput): RearviewConfig {
  const out: RearviewConfig = {
    ...base,
    video: { ...base.video },
    recordVideo: { ...base.recordVideo },
    allowNetworks: [...base.allowNetworks],
    trustedNetworks: [...base.trustedNetworks],
    publish: [...base.publish],
  };
  const defaults = defaultConfig();
  if (input.apiToken !== undefined && input.apiTokenFile !== undefined)
    throw new ConfigError('give either apiToken or apiTokenFile, not both');
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    if (key === 'video' || key === 'recordVideo') {
      // Both profiles take the same keys, checked against the same sets and ranges.
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new ConfigError(`${key}: expected an object`);
      for (const [vk, vv] of Object.entries(value as Record<string, unknown>)) {
        if (!(vk in defaults.video)) throw new ConfigError(`unknown setting ${key}.${vk}`);
        if (vv === undefined) continue;
        (out[key] as unknown as Record<string, unknown>)[vk] = normaliseValue(`${key}.${vk}`, vv);
      }
      continue;
    }
    if (!(key in defaults)) throw new ConfigError(`unknown setting ${key}`);
    (out as unknown as Record<string, unknown>)[key] = normaliseValue(key, value);
    // A later layer's token replaces an earlier layer's token file and the other way round.
    if (key === 'apiToken') out.apiTokenFile = undefined;
    if (key === 'apiTokenFile') {
      out.apiToken =
        out.apiTokenFile === undefined
          ? undefined
          : (normaliseValue('apiToken', readSecretFile(out.apiTokenFile, 'apiTokenFile')) as string);
    }
  }
  if (
    (out.webrtcPortMin > 0 || out.webrtcPortMax > 0) &&
    !(0 < out.webrtcPortMin && out.webrtcPortMin <= out.webrtcPortMax)
  )
    throw new ConfigError(
      `webrtcPortMin/webrtcPortMax: expected 1 <= min <= max (or both 0), got ${out.webrtcPortMin}-${out.webrtcPortMax}`,
    );
  return out;
}

/** Reads a JSON config file into a ConfigInput; errors name the file. */
export function readConfigFile(path: string): ConfigInput {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('top level must be an object');
    return parsed as ConfigInput;
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * defaults ← file ← environment (`REARVIEW_API_TOKEN`) ← overrides, validated.
 * `env` is read only when given (`rearview serve` passes process.env).
 */
export function loadConfig(
  options: {
    file?: string | undefined;
    overrides?: ConfigInput;
    env?: Readonly<Record<string, string | undefined>>;
  } = {},
): RearviewConfig {
  let config = defaultConfig();
  if (options.file) config = mergeConfig(config, readConfigFile(options.file));
  const envToken = options.env?.[API_TOKEN_ENV];
  if (envToken !== undefined && envToken !== '') config = mergeConfig(config, { apiToken: envToken });
  if (options.overrides) config = mergeConfig(config, options.overrides);
  checkUploadConfig(config);
  return config;
}
