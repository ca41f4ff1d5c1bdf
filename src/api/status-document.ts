/** The `/api/v1/status` document, also the source of `/metrics` and the `status` events. */
import type { ApiClock, ApiContext } from './api-context.js';
import type { ClockDocument, StatusDocument } from './wire-types.js';

export type { StatusDocument } from './wire-types.js';

async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch {
    return null;
  }
}

/** The clock part of the status (and of `POST /api/v1/clock`'s answer). */
export function clockDocument(clock: ApiClock): ClockDocument {
  const nowMs = clock.wallNow();
  return { ...clock.state, nowMs, now: new Date(nowMs).toISOString() };
}

/** Gathers the status; hardware that cannot be read shows as null, never as an error. */
export async function buildStatus(ctx: ApiContext): Promise<StatusDocument> {
  const config = ctx.config();
  const stream = ctx.stream();
  const mode = ctx.modes.state;
  const recording = stream.recording && mode.recording;
  const recorded = stream.recordingVideo ?? {
    profile: 'same' as const,
    width: stream.width,
    height: stream.height,
    bitrateBps: stream.bitrateBps,
  };
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
      slots: {
        tcp: stream.slots?.tcp ?? null,
        ws: stream.slots?.ws ?? null,
        webrtc: stream.slots?.webrtc ?? null,
      },
      webrtc: stream.webrtc ?? null,
    },
    recording: {
      active: health.state === 'recording',
      state: health.state,
      reason: health.reason,
      error: health.error,
      errorCode: health.errorCode,
      currentSegment: stream.currentSegment,
      segmentMs: config.segmentMs,
      profile: recorded.profile,
      width: recorded.width,
      height: recorded.height,
      resolution: recorded.width !== null && recorded.height !== null ? `${recorded.width}x${recorded.height}` : null,
      bitrateBps: recorded.bitrateBps,
      thumbnails: stream.thumbnails ?? null,
    },
    disk,
    publish: stream.publish ?? [],
    battery: {
      // Whole numbers, as the legacy routes answer (the MAX17048 reads in 1/256 % and 78.125 uV steps).
      percent: percent === null ? null : Math.round(percent),
      millivolts: millivolts === null ? null : Math.round(millivolts),
      charging,
      gauge: ctx.device.batteryGauge.kind,
      gaugeError: ctx.device.batteryGauge.error,
    },
    device: { backend: ctx.device.backend.backend, reason: ctx.device.backend.reason },
    temperatureC: temp === null ? null : Math.round(temp * 10) / 10,
    led: ctx.device.led.describe,
    simulated: { ...ctx.device.simulated },
    downloads: { active: ctx.downloads.inProgress, max: ctx.downloads.max },
    eventClients: ctx.events.clientCount,
    clock: clockDocument(ctx.clock),
    upload: stream.upload ?? null,
  };
}
