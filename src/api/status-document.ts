/** The `/api/v1/status` document, also the source of `/metrics` and the `status` events. */
import type { ApiContext } from './api-context.js';
import type { RecordingsUsage, StreamClientStatus, StreamSlotPoolStatus } from './api-services.js';
import type { RecordingState } from '../recorder/recording-health.js';

/** `GET /api/v1/status`. Times in ms; ISO strings beside them for people. */
export interface StatusDocument {
  version: string;
  cameraName: string;
  uptimeMs: number;
  /** 'simultaneous' or 'exclusive'. */
  mode: string;
  /** 'streaming', 'recording' or 'both'. */
  activity: string;
  /** Why (start-up, no client within the window, last client left, ...). */
  modeReason: string;
  /** End of the exclusive-mode streaming window; null when none is running. */
  windowEndsAtMs: number | null;
  windowEndsAt: string | null;
  streamWindowMs: number;
  stream: {
    source: string;
    running: boolean;
    /** Port 5000 is open to clients (false while exclusive mode records). */
    serving: boolean;
    width: number | null;
    height: number | null;
    resolution: string | null;
    fps: number | null;
    bitrateBps: number;
    measuredBitrateBps: number | null;
    framesPublished: number;
    clients: StreamClientStatus[];
    /** One slot pool per kind of client: caps, refusals by reason, evictions, clients dropped for being behind. */
    slots: { tcp: StreamSlotPoolStatus | null; ws: StreamSlotPoolStatus | null };
  };
  recording: {
    active: boolean;
    /** recording, starting, off (turned off), paused (exclusive mode streams), failed. */
    state: RecordingState;
    /** Why it is not recording, for people; null while recording. */
    reason: string | null;
    /** Set only when not recording is a failure: NOT RECORDING and why. */
    error: string | null;
    errorCode: string | null;
    currentSegment: string | null;
    segmentMs: number;
    /** Thumbnails on or off; `reason` says why they are off (no ffmpeg). null without a recorder. */
    thumbnails: { enabled: boolean; reason: string | null } | null;
  };
  disk: RecordingsUsage | null;
  battery: { percent: number | null; millivolts: number | null; charging: boolean | null };
  temperatureC: number | null;
  led: string;
  /** Which hardware parts are simulated stand-ins. */
  simulated: { battery: boolean; thermal: boolean; charging: boolean; led: boolean; button: boolean };
  downloads: { active: number; max: number };
  eventClients: number;
}

async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch {
    return null;
  }
}

/** Gathers the status; hardware that cannot be read shows as null, never as an error. */
export async function buildStatus(ctx: ApiContext): Promise<StatusDocument> {
  const config = ctx.config();
  const stream = ctx.stream();
  const mode = ctx.modes.state;
  const recording = stream.recording && mode.recording;
  const health = stream.recordingHealth ?? {
    state: recording ? 'recording' : 'off',
    reason: recording ? null : 'not recording',
    error: null,
    errorCode: null,
  };
  const [disk, percent, millivolts, charging, temp] = await Promise.all([
    orNull(ctx.recordings.usage()),
    orNull(ctx.device.battery.readPercent()),
    orNull(ctx.device.battery.readMillivolts()),
    orNull(ctx.device.charging.isCharging()),
    orNull(ctx.device.thermal.readCelsius()),
  ]);
  return {
    version: ctx.version,
    cameraName: config.cameraName,
    uptimeMs: Math.max(0, ctx.now() - ctx.startedAtMs),
    mode: mode.mode,
    activity: mode.activity,
    modeReason: mode.reason,
    windowEndsAtMs: mode.windowEndsAtMs,
    windowEndsAt: mode.windowEndsAtMs === null ? null : new Date(mode.windowEndsAtMs).toISOString(),
    streamWindowMs: ctx.modes.streamWindowMs,
    stream: {
      source: stream.source,
      running: stream.sourceRunning,
      serving: stream.sourceRunning && mode.streaming,
      width: stream.width,
      height: stream.height,
      resolution: stream.width !== null && stream.height !== null ? `${stream.width}x${stream.height}` : null,
      fps: stream.fps,
      bitrateBps: stream.bitrateBps,
      measuredBitrateBps: stream.measuredBitrateBps,
      framesPublished: stream.framesPublished,
      clients: stream.clients,
      slots: { tcp: stream.slots?.tcp ?? null, ws: stream.slots?.ws ?? null },
    },
    recording: {
      active: health.state === 'recording',
      state: health.state,
      reason: health.reason,
      error: health.error,
      errorCode: health.errorCode,
      currentSegment: stream.currentSegment,
      segmentMs: config.segmentMs,
      thumbnails: stream.thumbnails ?? null,
    },
    disk,
    battery: { percent, millivolts, charging },
    temperatureC: temp === null ? null : Math.round(temp * 10) / 10,
    led: ctx.device.led.describe,
    simulated: { ...ctx.device.simulated },
    downloads: { active: ctx.downloads.inProgress, max: ctx.downloads.max },
    eventClients: ctx.events.clientCount,
  };
}
