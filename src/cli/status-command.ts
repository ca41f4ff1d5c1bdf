/**
 * `rearview status --camera host[:port]`: the camera's state in plain words,
 * or as one JSON document with --json. Works with Rearview (`/api/v1/status`)
 * and with the original device firmware (legacy routes only).
 */
import type { Command } from 'commander';
import {
  addCameraOptions,
  cameraFromOptions,
  colours,
  printJson,
  toCliError,
  withCameraHint,
  type CameraCommandOptions,
} from './camera-helpers.js';
import type { StatusDocument } from '../api/wire-types.js';

/** Registers `rearview status`. */
export function registerStatus(program: Command): void {
  const cmd = program
    .command('status')
    .description("show a camera's state: mode, stream, recording, disk, battery, temperature")
    .option('--json', 'print one JSON document (the /api/v1/status fields, or the legacy values)');
  addCameraOptions(cmd).addHelpText(
    'after',
    `
Examples:
  rearview status                              the camera at velovision-rearview.local:8000
  rearview status --camera 192.168.9.1         the device's own hotspot address
  rearview status --camera localhost:8000 --json | jq .battery
  rearview discover                            find the cameras on this network first

Exit codes: 0 ok, 2 bad option, 4 camera unreachable or timed out (without --camera the
message says which address was tried and to run rearview discover), 6 not a Rearview / HTTP error.`,
  );
  cmd.action(async (opts: CameraCommandOptions, command: Command) => {
    try {
      await runStatus(opts);
    } catch (err) {
      throw withCameraHint(toCliError(err), command);
    }
  });
}

async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (err) {
    // Unreachable mid-way is still an error; a route that answers 500 (no battery gauge) is just unknown.
    if ((err as { code?: string }).code === 'ERR_CLIENT_HTTP') return null;
    throw err;
  }
}

async function runStatus(opts: CameraCommandOptions): Promise<void> {
  const client = await cameraFromOptions(opts);
  await client.assertRearview();
  const v1 = await client.hasV1();
  if (v1) {
    const status = await client.status();
    if (opts.json) return printJson({ camera: client.baseUrl, api: 'v1', ...status });
    return printV1(client.baseUrl, status);
  }
  const [percent, millivolts, temperatureC, charging, streaming] = await Promise.all([
    orNull(client.batteryPercent()),
    orNull(client.batteryMillivolts()),
    orNull(client.cpuTemperatureC()),
    orNull(client.isCharging()),
    orNull(client.cameraStreamStatus()),
  ]);
  const videos = await orNull(client.listLocalVideos());
  const legacy = {
    camera: client.baseUrl,
    api: 'legacy',
    battery: { percent, millivolts, charging },
    temperatureC,
    streaming,
    recordings: videos?.length ?? null,
  };
  if (opts.json) return printJson(legacy);
  const c = colours();
  const lines = [
    `${c.bold('camera')}       ${client.baseUrl} (original firmware: legacy API only)`,
    `stream       ${streaming === null ? 'unknown' : streaming ? c.green('serving on port 5000') : 'not serving'}`,
    `recordings   ${videos === null ? 'unknown' : `${videos.length} segments`}`,
    `battery      ${percent === null ? 'unknown' : `${percent} %`}${millivolts === null ? '' : `, ${millivolts} mV`}${charging ? ', charging' : ''}`,
    `temperature  ${temperatureC === null ? 'unknown' : `${temperatureC} °C`}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${s % 60} s` : `${s} s`;
}

/** The mode's activity and why, never claiming recording when the recording section says otherwise. */
function modeWords(status: StatusDocument, recording: Record<string, unknown>): string {
  const activity = String(status.activity ?? '?');
  if (
    activity === 'both' &&
    (recording.state === 'off' || recording.state === 'paused' || recording.state === 'failed')
  )
    return 'streaming, not recording';
  return `${activity}${status.modeReason ? `: ${String(status.modeReason)}` : ''}`;
}

/**
 * The recording line: a failure is a red NOT RECORDING with its reason; off
 * (a choice) and paused (exclusive mode streams) are said plainly.
 */
function recordingLine(recording: Record<string, unknown>, c: ReturnType<typeof colours>): string {
  const segment = recording.currentSegment ? `, writing ${String(recording.currentSegment)}` : '';
  const reason = typeof recording.reason === 'string' ? recording.reason : '';
  switch (recording.state) {
    case 'failed':
      return c.red(c.bold(`NOT RECORDING: ${String(recording.error ?? reason)}`));
    case 'off':
      return c.yellow(`off: ${reason}`);
    case 'paused':
      return `paused: ${reason}`;
    case 'starting':
      return `starting: ${reason}`;
    case 'recording':
      return c.green(`on${segment}`);
    default:
      return recording.active ? c.green(`on${segment}`) : 'off'; // a daemon older than recording.state
  }
}

/** The clock line: the camera's time and where it came from, or "clock not set" and why (a camera older than the clock section: nothing). */
function clockLine(clock: Record<string, unknown>, c: ReturnType<typeof colours>): string | undefined {
  if (clock.set === true) {
    const from = { ntp: 'network time', client: 'set by a client', system: "the system's clock" }[String(clock.source)];
    return `${String(clock.now ?? '?')}${from ? ` (${from})` : ''}`;
  }
  if (clock.set === false) return c.yellow(String(clock.reason ?? 'clock not set'));
  return undefined;
}

/** The upload line: state, queue, uploaded, failures and the last error. */
function uploadLine(
  u: Record<string, unknown>,
  formatBytes: (n: number) => string,
  c: ReturnType<typeof colours>,
): string {
  const state = String(u.state ?? '?');
  const queue = `${num(u.queueLength) ?? 0} queued (${formatBytes(num(u.queueBytes) ?? 0)})`;
  const done = `${num(u.uploaded) ?? 0} uploaded (${formatBytes(num(u.uploadedBytes) ?? 0)})`;
  const failures = num(u.failures) ?? 0;
  const current = obj(u.current);
  const now =
    typeof current.name === 'string'
      ? `, sending ${current.name} ${formatBytes(num(current.sentBytes) ?? 0)} of ${formatBytes(num(current.sizeBytes) ?? 0)}`
      : '';
  const head = `${state === 'failing' || state === 'offline' ? c.yellow(state) : state} to ${String(u.target ?? '?')}: ${queue}, ${done}, ${failures} failure(s)${now}`;
  const lastError = obj(u.lastError);
  const reason = typeof u.reason === 'string' ? `\n  ${u.reason}` : '';
  const error =
    typeof lastError.message === 'string' && (state === 'failing' || state === 'offline')
      ? ''
      : typeof lastError.message === 'string'
        ? c.dim(`\n  last error: ${lastError.message}`)
        : '';
  return `${head}${reason}${error}`;
}

/** One publishing target: its masked URL, state, counters and last error. */
function publisherLine(p: Record<string, unknown>, c: ReturnType<typeof colours>): string {
  const state = String(p.state ?? '?');
  const shown =
    state === 'publishing' ? c.green(state) : state === 'retrying' || state === 'unavailable' ? c.red(state) : state;
  const retry = num(p.retryInMs) === null ? '' : ` (next try in ${Math.ceil((num(p.retryInMs) ?? 0) / 1000)} s)`;
  const error = p.lastError && state !== 'publishing' ? `: ${String(p.lastError)}` : '';
  return `${String(p.url ?? '?')} ${shown}${retry}, ${num(p.frames) ?? 0} frames, ${num(p.framesDropped) ?? 0} dropped, ${num(p.reconnects) ?? 0} reconnects${error}`;
}

async function printV1(baseUrl: string, status: StatusDocument): Promise<void> {
  const { formatBytes } = await import('../util/units.js');
  const c = colours();
  const stream = obj(status.stream);
  const recording = obj(status.recording);
  const disk = status.disk === null ? null : obj(status.disk);
  const battery = obj(status.battery);
  const clients = Array.isArray(stream.clients) ? (stream.clients as Record<string, unknown>[]) : [];
  const bitrate = num(stream.measuredBitrateBps) ?? num(stream.bitrateBps);
  const simulated = Object.entries(obj(status.simulated))
    .filter(([, v]) => v === true)
    .map(([k]) => k);
  const lines = [
    `${c.bold('camera')}       ${String(status.cameraName ?? '')} at ${baseUrl}, version ${String(status.version ?? '?')}, up ${duration(num(status.uptimeMs) ?? 0)}`,
    `mode         ${String(status.mode ?? '?')} (${modeWords(status, recording)})${status.windowEndsAt ? `, stream window until ${String(status.windowEndsAt)}` : ''}`,
    `stream       ${stream.serving ? c.green('serving') : stream.running ? 'running, not serving' : c.red('source not running')} ${String(stream.resolution ?? '')}${num(stream.fps) ? ` @ ${num(stream.fps)} fps` : ''}${bitrate ? `, ${(bitrate / 1e6).toFixed(2)} Mbit/s` : ''}, source ${String(stream.source ?? '?')}`,
    `clients      ${clients.length}${clients.map((cl) => `\n  ${String(cl.kind)} ${String(cl.remote)}: lag ${num(cl.lagMs) ?? '?'} ms, ${num(cl.framesDropped) ?? 0} dropped`).join('')}`,
    `recording    ${recordingLine(recording, c)}`,
    `disk         ${disk === null ? 'unknown' : `${num(disk.files) ?? '?'} segments, ${formatBytes(num(disk.usedBytes) ?? 0)} used${num(disk.freeBytes) === null ? '' : `, ${formatBytes(num(disk.freeBytes) ?? 0)} free`}`}`,
    `battery      ${num(battery.percent) === null ? 'unknown' : `${num(battery.percent)} %`}${num(battery.millivolts) === null ? '' : `, ${num(battery.millivolts)} mV`}${battery.charging === true ? ', charging' : ''}${battery.gauge === 'missing' ? ' (no fuel gauge answered)' : battery.gauge === 'none' ? ' (no fuel gauge)' : ''}`,
    `temperature  ${num(status.temperatureC) === null ? 'unknown' : `${num(status.temperatureC)} °C`}`,
  ];
  const upload = status.upload === null || status.upload === undefined ? null : obj(status.upload);
  if (upload) lines.push(`upload       ${uploadLine(upload, formatBytes, c)}`);
  const publishers = Array.isArray(status.publish) ? (status.publish as unknown[]).map(obj) : [];
  if (publishers.length > 0) lines.push(`publish      ${publishers.map((p) => `\n  ${publisherLine(p, c)}`).join('')}`);
  const clock = clockLine(obj(status.clock), c);
  if (clock !== undefined) lines.splice(5, 0, `clock        ${clock}`);
  if (simulated.length > 0)
    lines.push(c.dim(`simulated    ${simulated.join(', ')} (no such hardware on this machine)`));
  process.stdout.write(`${lines.join('\n')}\n`);
}
