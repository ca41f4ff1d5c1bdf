/**
 * `rearview clip --camera host --from TIME --to TIME -o clip.mp4`: one MP4
 * of the recording between two capture times, cut by the camera across its
 * segments without re-encoding (GET /api/v1/clip). Progress on stderr like
 * `videos download` (bars on a terminal, `--progress json` for scripts).
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { CliError, ExitCode } from './exit-codes.js';
import {
  addCameraOptions,
  cameraFromOptions,
  durationOption,
  printJson,
  toCliError,
  withCameraHint,
  type CameraCommandOptions,
} from './camera-helpers.js';
import { createTransferProgress, progressMode, PROGRESS_MODES } from './transfer-progress.js';

interface ClipCommandOptions extends CameraCommandOptions {
  from: string;
  to?: string;
  duration?: string;
  output?: string;
  progress: string;
}

/** An ISO 8601 time with a zone, as the camera takes it (checked here for a clear usage error). */
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function isoOption(value: string, name: string): string {
  if (!ISO_RE.test(value) || !Number.isFinite(Date.parse(value)))
    throw new CliError(
      `${name}: expected an ISO 8601 time with a zone, e.g. 2026-12-03T08:14:05Z or 2026-12-03T09:14:05+01:00; got ${JSON.stringify(value)}`,
      ExitCode.USAGE,
    );
  return value;
}

/** Registers `rearview clip`. */
export function registerClip(program: Command): void {
  const cmd = program
    .command('clip')
    .description('save one MP4 of the recording between two times, across segments (no re-encoding)')
    .requiredOption('--from <time>', 'start, ISO 8601 with a zone (the clip starts at the keyframe at or before it)')
    .option('--to <time>', 'end, ISO 8601 with a zone')
    .option('--duration <duration>', 'length instead of --to (e.g. 30s, 2min)')
    .option('-o, --output <file>', 'where to save it (default: clip-<from>.mp4 here)')
    .option('--progress <mode>', `progress on stderr: ${PROGRESS_MODES.join(', ')}`, 'auto');
  addCameraOptions(cmd).addHelpText(
    'after',
    `
Examples:
  rearview clip --camera 192.168.9.1 --from 2026-12-03T08:14:05Z --to 2026-12-03T08:14:35Z -o pass.mp4
  rearview clip --camera 192.168.9.1 --from 2026-12-03T09:14:05+01:00 --duration 30s
  rearview clip --camera localhost:8000 --from ... --to ... --progress json 2>progress.jsonl

The camera refuses a range with a stretch it did not record (HTTP 409, naming it) and a
range over its --clip-max (1 h by default). Exit codes: 0 ok, 2 bad option, 4 camera
unreachable or timed out, 5 cannot write the file, 6 HTTP error (the camera's reason is printed).`,
  );
  cmd.action(async (opts: ClipCommandOptions, command: Command) => {
    try {
      await runClip(opts);
    } catch (err) {
      throw withCameraHint(toCliError(err), command);
    }
  });
}

async function runClip(opts: ClipCommandOptions): Promise<void> {
  const from = isoOption(opts.from, '--from');
  if ((opts.to === undefined) === (opts.duration === undefined))
    throw new CliError('give either --to or --duration', ExitCode.USAGE);
  const range =
    opts.to !== undefined
      ? { from, to: isoOption(opts.to, '--to') }
      : { from, durationMs: await durationOption(opts.duration as string, '--duration') };
  const mode = progressMode(opts.progress);
  const dest = resolve(opts.output ?? `clip-${from.replace(/[:.]/g, '-')}.mp4`);
  const client = await cameraFromOptions(opts);
  const progress = await createTransferProgress(mode);
  const name = dest.split('/').pop() as string;
  progress.plan(1, undefined);
  let show: ((bytes: number, total: number | undefined) => void) | undefined;
  try {
    const result = await client.clip(range, dest, {
      onProgress: (bytes, total) => {
        show ??= progress.start(name, total, 0);
        show(bytes, total);
      },
    });
    progress.finish(name, result.bytes, true);
    progress.stop();
    if (opts.json) printJson(result);
    else
      process.stdout.write(
        `${result.path}: ${(result.bytes / 1e6).toFixed(1)} MB from ${result.start} (${result.leadInMs} ms before --from), ${result.segments.length} segment(s)\n`,
      );
  } catch (err) {
    progress.stop();
    throw err;
  }
}
