/**
 * `rearview record tcp://host:5000 -o ride.mkv|ride.mp4 [--duration 10m] [--segment 1m]`:
 * records a live stream on the client side, crash-safe like the camera's
 * recorder (see record-helpers.ts: append-only MKV, fragmented MP4).
 * Reconnects when the stream drops and carries on at the next keyframe;
 * Ctrl-C / SIGTERM finish the file cleanly.
 */
import type { Command } from 'commander';
import type { StreamConnection } from '../client/stream-client.js';
import { CliError, ExitCode } from './exit-codes.js';
import { durationOption, printJson, toCliError } from './camera-helpers.js';
import { reconnectingText } from '../util/describe-network-error.js';

interface RecordOptions {
  output: string;
  duration?: string;
  segment?: string;
  reconnect: boolean;
  json?: boolean;
  fps: string;
}

/** What `rearview record` wrote. */
export interface RecordSummary {
  files: string[];
  frames: number;
  keyFrames: number;
  /** Recorded span from the first keyframe to the last frame, ms. */
  durationMs: number;
  bytes: number;
  reconnects: number;
  /** Why it stopped: 'duration', 'signal' or 'end'. */
  stoppedBy: string;
}

/** Registers `rearview record`. */
export function registerRecord(program: Command): void {
  program
    .command('record')
    .description('record a live stream to a crash-safe MKV or fragmented MP4 file')
    .argument('<url>', 'stream address: tcp://host[:port], host:port or host (port 5000 by default)')
    .requiredOption('-o, --output <file>', 'output file, .mkv or .mp4')
    .option('-d, --duration <duration>', 'stop after this much video (e.g. 10m, 90s)')
    .option(
      '-s, --segment <duration>',
      'start a new file (NAME-0001.mkv, ...) at the first keyframe after this long (e.g. 1m)',
    )
    .option('--no-reconnect', 'stop instead of reconnecting when the stream drops')
    .option('--fps <n>', 'frame rate for timestamps when the stream carries neither capture times nor VUI timing', '30')
    .option('--json', 'print a JSON summary at the end')
    .addHelpText(
      'after',
      `
Examples:
  rearview record tcp://velovision-rearview.local:5000 -o ride.mkv
  rearview record 192.168.9.1 -o ride.mp4 --duration 10m
  rearview record tcp://192.168.9.1:5000 -o ride.mkv --segment 1m     ride-0001.mkv, ride-0002.mkv, ...

Crash safety: .mkv is written append-only without buffering (a kill or power cut keeps every frame the
OS received); .mp4 is fragmented, one fragment per second (a kill loses at most the last second).
Exit codes: 0 ok, 2 bad option, 3 not an H.264 stream, 4 cannot connect, 5 cannot write (disk full).`,
    )
    .action(async (url: string, opts: RecordOptions) => {
      try {
        const summary = await runRecord(url, opts);
        if (opts.json) printJson(summary);
        else
          process.stdout.write(
            `recorded ${summary.frames} frames (${(summary.durationMs / 1000).toFixed(1)} s) to ${summary.files.join(', ')}\n`,
          );
      } catch (err) {
        throw toCliError(err, opts.output);
      }
    });
}

async function runRecord(url: string, opts: RecordOptions): Promise<RecordSummary> {
  const format = /\.mkv$/i.test(opts.output) ? 'mkv' : /\.mp4$/i.test(opts.output) ? 'mp4' : undefined;
  if (!format) throw new CliError(`--output must end in .mkv or .mp4, got ${opts.output}`, ExitCode.USAGE);
  const durationMs = opts.duration === undefined ? undefined : await durationOption(opts.duration, '--duration');
  const segmentMs = opts.segment === undefined ? undefined : await durationOption(opts.segment, '--segment');
  if (segmentMs !== undefined && segmentMs < 1000) throw new CliError('--segment must be at least 1s', ExitCode.USAGE);
  const fps = Number(opts.fps);
  if (!(fps > 0)) throw new CliError(`--fps: expected a positive number, got ${opts.fps}`, ExitCode.USAGE);

  const { connect } = await import('../client/stream-client.js');
  const helpers = await import('./record-helpers.js');
  let stream: StreamConnection;
  try {
    stream = connect(url, { policy: 'all', reconnect: opts.reconnect, fps });
  } catch (err) {
    throw new CliError((err as Error).message, ExitCode.USAGE);
  }
  const connection = stream;
  let everConnected = false;
  let startupError: unknown;
  connection.on('connected', () => {
    everConnected = true;
  });
  connection.on('disconnected', (e) => {
    // Unreachable at start: fail at once instead of retrying forever.
    if (!everConnected) {
      startupError = e.error;
      void connection.close();
    }
  });
  connection.on('reconnecting', (e) => {
    if (everConnected && process.stderr.isTTY)
      process.stderr.write(`\nrearview: ${reconnectingText(e.error?.message ?? connection.url, e.delayMs ?? 0)}\n`);
  });
  let stoppedBy = 'end';
  const onSignal = (): void => {
    stoppedBy = 'signal';
    void connection.close();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const files: string[] = [];
  let writer: import('./record-helpers.js').RecordingWriter | undefined;
  let params: import('../hub/stream-frame.js').StreamParams | undefined;
  let segmentIndex = segmentMs === undefined ? undefined : 0;
  let segmentStartMs = 0;
  let firstMs: number | undefined;
  let lastMs = 0;
  let frames = 0;
  let keyFrames = 0;
  let bytes = 0;
  let lastReport = 0;
  // Frames without a capture-time SEI are timed from pts90k on the receive clock of the first frame.
  let baseReceivedMs: number | undefined;
  let lastTimestampMs: number | undefined;
  const closeWriter = async (): Promise<void> => {
    if (!writer) return;
    const w = writer;
    writer = undefined;
    bytes += w.bytes;
    await w.close();
  };
  const frameStream = async function* (): AsyncGenerator<import('../client/stream-client.js').ClientFrame> {
    try {
      yield* connection;
    } catch (err) {
      const lost = (err as { code?: string }).code === 'ERR_CLIENT_CONNECT';
      // --no-reconnect: the camera closing the stream after we recorded something is the normal end.
      if (!opts.reconnect && frames > 0 && lost) return;
      // Bytes came but never a frame: the peer is not an H.264 camera.
      if (lost && everConnected && frames === 0 && connection.stats.bytesReceived > 0) return;
      throw err;
    }
  };
  try {
    for await (const frame of frameStream()) {
      baseReceivedMs ??= frame.receivedAtMs - frame.pts90k / 90;
      // Frames captured very close together (a camera delivering a burst after a stall) would share a
      // timestamp once the recorder's segment writer snaps times to the nominal frame rate, and players
      // (ffmpeg among them) reject frames closer than one interval of the rate they detect: each frame
      // gets at least one nominal frame interval after the previous one; the times catch up with the
      // capture clock after the burst.
      const rawMs = frame.capturedAtMs ?? baseReceivedMs + frame.pts90k / 90;
      const minStepMs = 1000 / (params?.fps || fps);
      const capturedAtMs = lastTimestampMs === undefined ? rawMs : Math.max(rawMs, lastTimestampMs + minStepMs);
      lastTimestampMs = capturedAtMs;
      firstMs ??= capturedAtMs;
      if (durationMs !== undefined && capturedAtMs - firstMs >= durationMs) {
        stoppedBy = 'duration';
        break;
      }
      const newParams = frame.isKey && (!params || helpers.parametersChanged(frame, params));
      const segmentDue =
        frame.isKey && segmentMs !== undefined && writer !== undefined && capturedAtMs - segmentStartMs >= segmentMs;
      if (!writer || newParams || segmentDue) {
        if (!frame.isKey) continue;
        await closeWriter();
        if (newParams || !params) params = helpers.paramsFromKeyFrame(frame, fps);
        if (segmentIndex !== undefined) segmentIndex++;
        const path = helpers.segmentPath(opts.output, segmentIndex);
        writer =
          format === 'mkv'
            ? new helpers.MkvRecordingWriter(path, params)
            : new helpers.Mp4RecordingWriter(path, params);
        await writer.start().catch((err: unknown) => {
          throw toCliError(err, path);
        });
        files.push(path);
        segmentStartMs = capturedAtMs;
      }
      await writer.write(frame, capturedAtMs).catch((err: unknown) => {
        throw toCliError(err, writer?.path);
      });
      frames++;
      if (frame.isKey) keyFrames++;
      lastMs = capturedAtMs;
      if (process.stderr.isTTY && frame.receivedAtMs - lastReport > 500) {
        lastReport = frame.receivedAtMs;
        process.stderr.write(
          `\rrecording ${writer.path}: ${((lastMs - firstMs) / 1000).toFixed(1)} s, ${frames} frames   `,
        );
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await connection.close();
    await closeWriter();
    if (process.stderr.isTTY && lastReport > 0) process.stderr.write('\n');
  }
  if (startupError) throw startupError;
  if (frames === 0) {
    if (stoppedBy === 'signal')
      throw new CliError('interrupted before the first keyframe: nothing recorded', ExitCode.INTERRUPTED);
    const what =
      connection.stats.framesReceived === 0
        ? `not an H.264 stream (no access unit in ${connection.stats.bytesReceived} bytes)`
        : 'the stream ended before its first keyframe';
    throw new CliError(`${connection.url}: ${what}: nothing recorded`, ExitCode.BAD_STREAM);
  }
  const frameMs = 1000 / (params?.fps || fps);
  return {
    files,
    frames,
    keyFrames,
    durationMs: Math.round(lastMs - (firstMs ?? lastMs) + frameMs),
    bytes,
    reconnects: Math.max(0, connection.stats.connections - 1),
    stoppedBy,
  };
}
