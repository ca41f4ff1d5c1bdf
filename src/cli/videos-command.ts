/**
 * `rearview videos list|download|sync|thumbs|wipe --camera host[:port]`:
 * the camera's recordings from the command line.
 *
 * `sync DIR` mirrors every finished recording into DIR: files already there
 * with the right size are skipped, a download cut earlier (`NAME.part`) is
 * resumed with an HTTP Range request, sizes are verified before a file takes
 * its final name, and a summary is printed at the end. Progress (each file
 * and overall: files and bytes) goes to stderr: bars on a terminal, JSON
 * lines with `--progress json`.
 *
 * Against the original device firmware (no /api/v1) the legacy routes are
 * used: no sizes and no Range, so existing files are skipped by name and the
 * newest segment (the one being recorded) is left for the next sync.
 */
import type { Command } from 'commander';
import { CliError, ExitCode } from './exit-codes.js';
import {
  addCameraOptions,
  addGroupCameraOptions,
  cameraFromOptions,
  colours,
  printJson,
  toCliError,
  withCameraHint,
  type CameraCommandOptions,
} from './camera-helpers.js';
import { createTransferProgress, progressMode, PROGRESS_MODES, type TransferProgress } from './transfer-progress.js';
import type { CameraClient, Recording } from '../client/camera-client.js';

/** One recording as the commands see it, from either API. */
interface RemoteVideo {
  name: string;
  sizeBytes: number | undefined;
  startedAt: string | undefined;
  durationMs: number | undefined;
  resolution: string | undefined;
  inProgress: boolean;
  /** Kept by a moment (out of rotation and wipe). */
  protected: boolean;
  /** Legacy API: the absolute path on the camera. */
  legacyPath: string | undefined;
  recording: Recording | undefined;
}

/** Help text of a `videos` subcommand: its examples and where the exit codes are. */
function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n\nThe camera options (--camera, --timeout, --token, --api-token-file) may also come before the subcommand.\nExit codes: see rearview videos --help.`;
}

/** Registers `rearview videos` and its subcommands. */
export function registerVideos(program: Command): void {
  const videos = addGroupCameraOptions(program.command('videos'))
    .description("list, download, mirror and delete the camera's recordings")
    .addHelpText(
      'after',
      `
Examples:
  rearview videos list --camera 192.168.9.1
  rearview videos --camera 192.168.9.1 list              the camera options work before the subcommand too
  rearview videos download log0042.mkv --camera 192.168.9.1 -o ~/rides
  rearview videos sync ~/rides --camera 192.168.9.1      mirror every new recording
  rearview videos thumbs ./thumbs --camera 192.168.9.1
  rearview videos wipe --camera 192.168.9.1 --yes

Exit codes: 0 ok, 2 bad option, 4 camera unreachable or timed out, 5 disk full / cannot write,
6 not a Rearview or an HTTP error.`,
    );

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const wrap =
    <A extends unknown[]>(fn: (...args: A) => Promise<void>) =>
    async (...args: A): Promise<void> => {
      try {
        await fn(...args);
      } catch (err) {
        // commander passes (...arguments, options, command): the command says where --camera came from.
        throw withCameraHint(toCliError(err), args.at(-1) as Command);
      }
    };

  addCameraOptions(
    videos
      .command('list')
      .description('list recordings, old to new')
      .option('--json', 'print one JSON array')
      .option('--rides', 'group the segments into rides (continuous recording), with their moments')
      .option('--at <time>', 'with --rides: only the ride recording at this ISO 8601 time (with a zone)'),
  )
    .addHelpText(
      'after',
      examples(
        'rearview videos list --camera 192.168.9.1',
        'rearview videos --camera 192.168.9.1 list --json',
        'rearview videos list --rides --camera 192.168.9.1',
        'rearview videos list --rides --at 2026-12-03T08:14:05Z --camera 192.168.9.1',
      ),
    )
    .action(
      wrap(async (opts: CameraCommandOptions & { rides?: boolean; at?: string }) => {
        const client = await cameraFromOptions(opts);
        if (opts.rides || opts.at !== undefined) return listRides(client, opts);
        const list = await listVideos(client);
        if (opts.json) return printJson(list.map(({ recording: _r, legacyPath: _p, ...rest }) => rest));
        const { formatBytes } = await import('../util/units.js');
        const c = colours();
        for (const v of list) {
          const when = v.startedAt ? v.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
          const dur = v.durationMs === undefined ? '' : `${(v.durationMs / 1000).toFixed(0)} s`;
          const size = v.sizeBytes === undefined ? '' : formatBytes(v.sizeBytes);
          process.stdout.write(
            `${v.name.padEnd(14)} ${when.padEnd(21)} ${dur.padStart(6)} ${size.padStart(9)} ${v.resolution ?? ''}${v.inProgress ? c.yellow('  (recording)') : ''}${v.protected ? '  (kept: moment)' : ''}\n`,
          );
        }
        if (list.length === 0) process.stderr.write('no recordings\n');
      }),
    );

  addCameraOptions(
    videos
      .command('download')
      .description('download recordings by name (resumes a cut download)')
      .argument('<names...>', 'recording names as listed (log0001.mkv ...)')
      .option('-o, --output <dir>', 'folder to write into', '.')
      .option('--format <mkv|mp4>', 'mkv: the segment as recorded; mp4: converted by the camera (no resume)', 'mkv')
      .option(
        '--progress <mode>',
        `${PROGRESS_MODES.join('|')}: bars on a terminal (auto), JSON lines on stderr, or nothing`,
        'auto',
      ),
  )
    .addHelpText(
      'after',
      examples(
        'rearview videos download log0042.mkv --camera 192.168.9.1 -o ~/rides',
        'rearview videos --camera 192.168.9.1 download log0042 --format mp4',
      ),
    )
    .action(
      wrap(
        async (names: string[], opts: CameraCommandOptions & { output: string; format: string; progress: string }) => {
          const format = checkFormat(opts.format);
          const mode = progressMode(opts.progress);
          const client = await cameraFromOptions(opts);
          const list = await listVideos(client);
          const wanted = names.map((name) => {
            const video = list.find((v) => v.name === name || v.name === `${name}.mkv`);
            if (!video) throw new CliError(`no recording named ${name} on ${client.baseUrl}`, ExitCode.REMOTE);
            return video;
          });
          await makeFolder(opts.output);
          const progress = await createTransferProgress(mode);
          try {
            progress.plan(wanted.length, totalSize(wanted, format));
            for (const video of wanted) await fetchVideo(client, video, opts.output, format, progress);
          } finally {
            progress.stop();
          }
        },
      ),
    );

  addCameraOptions(
    videos
      .command('sync')
      .description('mirror every new recording into a folder (skip, resume, verify)')
      .argument('<dir>', 'destination folder (created when missing)')
      .option('--format <mkv|mp4>', 'mkv (default, resumable and size-checked) or mp4 converted by the camera', 'mkv')
      .option(
        '--progress <mode>',
        `${PROGRESS_MODES.join('|')}: bars on a terminal (auto), JSON lines on stderr, or nothing`,
        'auto',
      )
      .option('--json', 'print the summary as JSON'),
  )
    .addHelpText(
      'after',
      examples(
        'rearview videos sync ~/rides --camera 192.168.9.1',
        'rearview videos --camera 192.168.9.1 --api-token-file ~/.rearview-token sync ~/rides --json',
      ),
    )
    .action(
      wrap(async (dir: string, opts: CameraCommandOptions & { format: string; progress: string; json?: boolean }) => {
        const format = checkFormat(opts.format);
        const mode = progressMode(opts.progress);
        const client = await cameraFromOptions(opts);
        const summary = await syncVideos(client, dir, format, await createTransferProgress(mode));
        if (opts.json) printJson(summary);
        else {
          const { formatBytes } = await import('../util/units.js');
          process.stdout.write(
            `synced ${summary.downloaded.length} new (${formatBytes(summary.bytesTransferred)})` +
              `${summary.resumed.length ? `, ${summary.resumed.length} resumed` : ''}, ${summary.skipped.length} already there` +
              `${summary.pending.length ? `, ${summary.pending.length} still recording` : ''}` +
              `${summary.failed.length ? `, ${summary.failed.length} failed` : ''}\n`,
          );
        }
        if (summary.failed.length > 0) {
          const first = summary.failed[0] as { name: string; error: string; exitCode: number };
          throw new CliError(
            `${summary.failed.length} download(s) failed; first: ${first.name}: ${first.error}`,
            first.exitCode as ExitCodeValueLike,
          );
        }
      }),
    );

  addCameraOptions(
    videos
      .command('thumbs')
      .description('download the thumbnail JPEG of every recording')
      .argument('<dir>', 'destination folder'),
  )
    .addHelpText(
      'after',
      examples(
        'rearview videos thumbs ./thumbs --camera 192.168.9.1',
        'rearview videos --camera 192.168.9.1 thumbs ./thumbs',
      ),
    )
    .action(
      wrap(async (dir: string, opts: CameraCommandOptions) => {
        const client = await cameraFromOptions(opts);
        const { writeFile, stat } = await import('node:fs/promises');
        await makeFolder(dir);
        let written = 0;
        let skipped = 0;
        if (await client.hasV1()) {
          for (const r of await client.recordings()) {
            if (!r.thumbnailUrl) continue;
            const name = safeDecode(new URL(r.thumbnailUrl).pathname.split('/').pop() ?? `${r.name}.jpg`);
            if (!isSafeLocalName(name)) {
              warnUnsafe(name);
              continue;
            }
            const file = await fileInside(dir, name);
            if (
              await stat(file).then(
                () => true,
                () => false,
              )
            ) {
              skipped++;
              continue;
            }
            let jpeg: Uint8Array;
            try {
              jpeg = await client.thumbnail(r);
            } catch (err) {
              // One missing or refused thumbnail (e.g. a URL off the camera) does not stop the rest.
              if ((err as { code?: string }).code !== 'ERR_CLIENT_HTTP') throw err;
              process.stderr.write(`warning: ${(err as Error).message}\n`);
              continue;
            }
            await writeFile(file, jpeg).catch((err: unknown) => {
              throw toCliError(err, file);
            });
            written++;
          }
        } else {
          // Legacy: thumbnails sit beside the segments as logNNNN_<unix>.jpg; the list names only the .mkv,
          // so the thumbnail is asked for by the segment path with the date the list gives.
          for (const v of await client.listLocalVideos()) {
            const jpg = v.path.replace(/\.mkv$/i, `_${v.date_updated}.jpg`);
            const name = jpg.split('/').pop() ?? 'thumb.jpg';
            if (!isSafeLocalName(name)) {
              warnUnsafe(name);
              continue;
            }
            const file = await fileInside(dir, name);
            if (
              await stat(file).then(
                () => true,
                () => false,
              )
            ) {
              skipped++;
              continue;
            }
            try {
              await writeFile(file, await client.legacyThumbnail(jpg));
              written++;
            } catch (err) {
              if ((err as { code?: string }).code !== 'ERR_CLIENT_HTTP') throw err;
            }
          }
        }
        process.stdout.write(`${written} thumbnails written to ${dir}${skipped ? `, ${skipped} already there` : ''}\n`);
      }),
    );

  addCameraOptions(
    videos
      .command('wipe')
      .description('delete every recording on the camera (asks first)')
      .option('-y, --yes', 'do not ask'),
  )
    .addHelpText(
      'after',
      examples(
        'rearview videos wipe --camera 192.168.9.1            asks on the terminal first',
        'rearview videos --camera 192.168.9.1 wipe --yes',
      ),
    )
    .action(
      wrap(async (opts: CameraCommandOptions & { yes?: boolean }) => {
        const client = await cameraFromOptions(opts);
        const list = await listVideos(client);
        if (!opts.yes) {
          if (!process.stdin.isTTY)
            throw new CliError(
              'wipe deletes every recording: confirm with --yes (no terminal to ask on)',
              ExitCode.USAGE,
            );
          const { createInterface } = await import('node:readline/promises');
          const rl = createInterface({ input: process.stdin, output: process.stderr });
          const answer = await rl.question(
            `Delete all ${list.length} recordings on ${client.baseUrl}? This cannot be undone. [y/N] `,
          );
          rl.close();
          if (!/^y(es)?$/i.test(answer.trim())) {
            process.stderr.write('nothing deleted\n');
            return;
          }
        }
        if (await client.hasV1()) {
          const result = (await client.deleteAllRecordings()) as { deleted?: number } | undefined;
          process.stdout.write(`deleted ${result?.deleted ?? list.length} recordings\n`);
        } else {
          await client.legacyWipe();
          process.stdout.write(`deleted ${list.length} recordings\n`);
        }
      }),
    );
}

type ExitCodeValueLike = (typeof ExitCode)[keyof typeof ExitCode];

function checkFormat(format: string): 'mkv' | 'mp4' {
  if (format !== 'mkv' && format !== 'mp4')
    throw new CliError(`--format: expected mkv or mp4, got ${JSON.stringify(format)}`, ExitCode.USAGE);
  return format;
}

function basename(path: string): string {
  return path.split('/').pop() ?? path;
}

/**
 * True for a name that is safe to write inside the target folder: a plain
 * file name (letters, digits, `_`, `-`, `.`; no separator, NUL or `..`,
 * not hidden), at most 255 bytes. Names come from the camera's list, and a
 * spoofed camera must not be able to write outside the folder.
 */
export function isSafeLocalName(name: string): boolean {
  return (
    name.length > 0 &&
    Buffer.byteLength(name) <= 255 &&
    /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name) &&
    !name.includes('..')
  );
}

/** `join(dir, name)` after checking that the result is a direct child of `dir`; throws otherwise. */
async function fileInside(dir: string, name: string): Promise<string> {
  const { join, resolve, dirname } = await import('node:path');
  const file = join(dir, name);
  if (!isSafeLocalName(name) || dirname(resolve(file)) !== resolve(dir)) {
    throw new CliError(
      `refusing to write ${JSON.stringify(name)} from the camera: not a plain file name`,
      ExitCode.REMOTE,
    );
  }
  return file;
}

function warnUnsafe(name: string): void {
  process.stderr.write(`warning: skipping ${JSON.stringify(name)} from the camera: not a plain file name\n`);
}

/** `videos list --rides [--at TIME]`: rides from GET /api/v1/rides, one line each with its segments and moments. */
async function listRides(client: CameraClient, opts: { json?: boolean; at?: string }): Promise<void> {
  let at: number | undefined;
  if (opts.at !== undefined) {
    at = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(opts.at)
      ? Date.parse(opts.at)
      : Number.NaN;
    if (!Number.isFinite(at))
      throw new CliError(`--at: expected an ISO 8601 time with a zone, got ${JSON.stringify(opts.at)}`, ExitCode.USAGE);
  }
  const rides = (await client.rides()).filter(
    (r) => at === undefined || (Date.parse(r.start) <= at && at < Date.parse(r.end)),
  );
  if (opts.json) return printJson(rides);
  const c = colours();
  for (const r of rides) {
    const span = `${r.start.replace('T', ' ').replace(/\.\d+Z$/, 'Z')} to ${r.end.replace(/^.*T/, '').replace(/\.\d+Z$/, 'Z')}`;
    const minutes = `${(r.durationMs / 60_000).toFixed(1)} min`;
    const moments = r.moments.length > 0 ? `, ${r.moments.length} moment(s)` : '';
    process.stdout.write(
      `${span}  ${minutes.padStart(9)}  ${r.segments.length} segment(s) (${r.segments[0]} .. ${r.segments.at(-1)})${moments}${r.inProgress ? c.yellow('  (recording)') : ''}\n`,
    );
  }
  if (rides.length === 0) process.stderr.write(at === undefined ? 'no recordings\n' : `no ride at ${opts.at}\n`);
}

/** Lists recordings through /api/v1 when the camera has it, else the legacy list. Checks it is a Rearview first. */
async function listVideos(client: CameraClient): Promise<RemoteVideo[]> {
  const all = await listAllVideos(client);
  return all.filter((v) => {
    if (isSafeLocalName(v.name)) return true;
    warnUnsafe(v.name);
    return false;
  });
}

async function listAllVideos(client: CameraClient): Promise<RemoteVideo[]> {
  await client.assertRearview();
  if (await client.hasV1()) {
    return (await client.recordings()).map((r) => ({
      name: r.name,
      sizeBytes: r.sizeBytes,
      startedAt: r.startedAt,
      durationMs: r.durationMs,
      resolution: r.width && r.height ? `${r.width}x${r.height}` : undefined,
      inProgress: r.inProgress,
      protected: r.protected,
      legacyPath: undefined,
      recording: r,
    }));
  }
  const legacy = await client.listLocalVideos();
  return legacy.map((v, i) => {
    const seconds = Number(v.date_updated);
    return {
      name: basename(v.path),
      sizeBytes: undefined,
      startedAt: Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : v.date_updated,
      durationMs: undefined,
      resolution: undefined,
      // The device records all the time: its newest segment is still being written.
      inProgress: i === legacy.length - 1,
      protected: false,
      legacyPath: v.path,
      recording: undefined,
    };
  });
}

/**
 * Creates the destination folder (and its parents), or fails with one line
 * naming it: a regular file in the way, no permission, a read-only disk.
 */
async function makeFolder(dir: string): Promise<void> {
  const { makeDirectory } = await import('../util/make-directory.js');
  // makeDirectory, not mkdir -p: that loops for ever under /proc or a dangling link.
  await makeDirectory(dir).catch((err: unknown) => {
    // A regular file in the way: say what it means here.
    const code = (err as { code?: unknown }).code;
    if (code === 'EEXIST' || code === 'ENOTDIR')
      throw new CliError(`${dir}: not a folder (a file of that name is in the way)`, ExitCode.IO);
    throw toCliError(err, dir);
  });
}

/** Bytes the run will hold once done (mkv with every size listed), else undefined. */
function totalSize(videos: RemoteVideo[], format: 'mkv' | 'mp4'): number | undefined {
  if (format !== 'mkv') return undefined;
  let total = 0;
  for (const v of videos) {
    if (v.sizeBytes === undefined) return undefined;
    total += v.sizeBytes;
  }
  return total;
}

/** Fails early with "disk full" when `dir` has less free space than `bytes`. */
async function checkFreeSpace(dir: string, bytes: number | undefined): Promise<void> {
  if (!bytes) return;
  const { statfs } = await import('node:fs/promises');
  const s = await statfs(dir).catch(() => undefined);
  if (!s) return;
  const free = s.bavail * s.bsize;
  if (free < bytes) {
    const { formatBytes } = await import('../util/units.js');
    throw new CliError(`${dir}: disk full (need ${formatBytes(bytes)}, ${formatBytes(free)} free)`, ExitCode.IO);
  }
}

/** Downloads one video into `dir`; resumes a `.part` left by an earlier attempt (v1 API, mkv). */
async function fetchVideo(
  client: CameraClient,
  video: RemoteVideo,
  dir: string,
  format: 'mkv' | 'mp4',
  progress: TransferProgress,
): Promise<{ path: string; transferredBytes: number; resumed: boolean; bytes: number }> {
  const { stat } = await import('node:fs/promises');
  const fileName = format === 'mp4' ? video.name.replace(/\.mkv$/i, '.mp4') : video.name;
  const dest = await fileInside(dir, fileName);
  const partBytes = await stat(`${dest}.part`).then(
    (s) => s.size,
    () => 0,
  );
  await checkFreeSpace(dir, video.sizeBytes === undefined ? undefined : video.sizeBytes - partBytes);
  const show = progress.start(fileName, format === 'mkv' ? video.sizeBytes : undefined, partBytes);
  let onDisk = partBytes;
  const update = (bytes: number, total: number | undefined): void => {
    onDisk = bytes;
    show(bytes, total);
  };
  try {
    let result: { path: string; transferredBytes: number; resumed: boolean; bytes: number };
    if (video.legacyPath) {
      const { rename } = await import('node:fs/promises');
      result = {
        ...(await client.legacyDownload(video.legacyPath, `${dest}.part`, { format, onProgress: update })),
        path: dest,
      };
      await rename(`${dest}.part`, dest);
    } else {
      result = await client.download(video.name, dest, { format, resume: format === 'mkv', onProgress: update });
    }
    progress.finish(fileName, result.bytes, true);
    if (format === 'mkv' && video.sizeBytes !== undefined && result.bytes !== video.sizeBytes) {
      // The listing and the transfer disagree (the file changed on the camera): keep it, but say so.
      throw new CliError(
        `${video.name}: size ${result.bytes} differs from the listed ${video.sizeBytes} bytes`,
        ExitCode.REMOTE,
      );
    }
    return result;
  } catch (err) {
    if (!(err instanceof CliError)) progress.finish(fileName, onDisk, false);
    throw toCliError(err, dest);
  }
}

/** The result of `videos sync`. */
export interface SyncSummary {
  camera: string;
  dir: string;
  /** Names downloaded in full by this run. */
  downloaded: string[];
  /** Names whose earlier partial download was completed. */
  resumed: string[];
  /** Names already present with the right size. */
  skipped: string[];
  /** Names still being recorded (left for the next run). */
  pending: string[];
  failed: { name: string; error: string; exitCode: number }[];
  /** Bytes moved over the network by this run. */
  bytesTransferred: number;
}

/**
 * Mirrors the camera's finished recordings into `dir`; see the file comment.
 * Stops at the first disk error (a full disk will not get better); other
 * failures are collected and the rest continue.
 */
export async function syncVideos(
  client: CameraClient,
  dir: string,
  format: 'mkv' | 'mp4',
  progress: TransferProgress,
): Promise<SyncSummary> {
  const { stat } = await import('node:fs/promises');
  const summary: SyncSummary = {
    camera: client.baseUrl,
    dir,
    downloaded: [],
    resumed: [],
    skipped: [],
    pending: [],
    failed: [],
    bytesTransferred: 0,
  };
  try {
    const list = await listVideos(client);
    await makeFolder(dir);
    // Sort out what is already there first, so the overall progress knows the whole run.
    const toFetch: RemoteVideo[] = [];
    for (const video of list) {
      if (video.inProgress) {
        summary.pending.push(video.name);
        continue;
      }
      const fileName = format === 'mp4' ? video.name.replace(/\.mkv$/i, '.mp4') : video.name;
      const existing = await stat(await fileInside(dir, fileName)).then(
        (s) => s.size,
        () => undefined,
      );
      // mkv: verify by size; mp4 (converted on the fly) and legacy lists carry no size to compare.
      if (
        existing !== undefined &&
        (format === 'mp4' || video.sizeBytes === undefined || existing === video.sizeBytes)
      ) {
        summary.skipped.push(video.name);
        continue;
      }
      toFetch.push(video);
    }
    progress.plan(toFetch.length, totalSize(toFetch, format));
    for (const video of toFetch) {
      try {
        const result = await fetchVideo(client, video, dir, format, progress);
        summary.bytesTransferred += result.transferredBytes;
        (result.resumed ? summary.resumed : summary.downloaded).push(video.name);
      } catch (err) {
        const cli = toCliError(err);
        if (cli.exitCode === ExitCode.IO || cli.exitCode === ExitCode.CONNECT) throw cli;
        summary.failed.push({ name: video.name, error: cli.message, exitCode: cli.exitCode });
      }
    }
  } finally {
    progress.stop();
  }
  return summary;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
