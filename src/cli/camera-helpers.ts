/**
 * Helpers shared by the client-side commands (status, videos, record,
 * discover, doctor): turning library errors into one-line CLI errors with
 * the documented exit codes, colour only on a TTY, and common options.
 * Kept free of heavy imports so `--help` stays fast.
 */
import type { Command } from 'commander';
import { CliError, ExitCode } from './exit-codes.js';

/** Default camera host when --camera is not given (the device's mDNS name). */
export const DEFAULT_CAMERA = 'velovision-rearview.local';

/** Options every camera command shares. */
export interface CameraCommandOptions {
  camera: string;
  timeout: string;
  token?: string;
  apiTokenFile?: string;
  json?: boolean;
}

/** Adds --camera, --timeout, --token and --api-token-file to a command. */
export function addCameraOptions(cmd: Command): Command {
  return cmd
    .option(
      '-c, --camera <host[:port]>',
      `camera address, API port 8000 by default (env REARVIEW_CAMERA)`,
      process.env.REARVIEW_CAMERA ?? DEFAULT_CAMERA,
    )
    .option('--timeout <duration>', 'how long to wait for each answer (e.g. 5s, 500ms)', '5s')
    .option(
      '--token <token>',
      'API token of a camera that has one; visible to every user in ps: prefer --api-token-file or env REARVIEW_API_TOKEN',
    )
    .option('--api-token-file <path>', 'read the API token from the first line of this file (mode 0600)');
}

/** The options {@link addCameraOptions} adds, by their commander keys. */
const SHARED_CAMERA_KEYS = ['camera', 'timeout', 'token', 'apiTokenFile'] as const;

/**
 * The API token for a camera command: `--token`, else `--api-token-file`,
 * else the environment (`REARVIEW_API_TOKEN`, or the older `REARVIEW_TOKEN`).
 */
export async function tokenFromOptions(
  opts: Pick<CameraCommandOptions, 'token' | 'apiTokenFile'>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  if (opts.token !== undefined && opts.apiTokenFile !== undefined)
    throw new CliError('give either --token or --api-token-file, not both', ExitCode.USAGE);
  if (opts.token !== undefined) return opts.token;
  if (opts.apiTokenFile !== undefined) {
    const { readSecretFile } = await import('../util/secret-file.js');
    try {
      return readSecretFile(opts.apiTokenFile, '--api-token-file');
    } catch (err) {
      throw new CliError((err as Error).message, ExitCode.USAGE);
    }
  }
  const fromEnv = env.REARVIEW_API_TOKEN || env.REARVIEW_TOKEN;
  return fromEnv ? fromEnv : undefined;
}

/**
 * Lets a command group (`videos`) take the camera options before its
 * subcommand as well as after it: `rearview videos --camera X list` and
 * `rearview videos list --camera X` do the same. The group stops reading its
 * own options at the subcommand's name (positional options), so each
 * position is parsed by its own command; a value given after the
 * subcommand wins over one given before it.
 */
export function addGroupCameraOptions(group: Command): Command {
  addCameraOptions(group).enablePositionalOptions();
  // Hooks of a parent run before each subcommand's action.
  group.hook('preAction', (parent, action) => {
    if (action === parent) return;
    for (const key of SHARED_CAMERA_KEYS) {
      if (action.getOptionValueSource(key) === 'cli' || parent.getOptionValueSource(key) !== 'cli') continue;
      action.setOptionValueWithSource(key, parent.getOptionValue(key), 'cli');
    }
  });
  return group;
}

const FS_WORDS: Record<string, string> = {
  ENOSPC: 'disk full',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or folder',
  ENOTDIR: 'not a folder',
  EISDIR: 'is a folder',
};

/**
 * Maps any error of a client command to a one-line CliError:
 * unreachable / timeout -> CONNECT (4), not a Rearview / HTTP error -> REMOTE (6),
 * file-system errors (disk full, permission) -> IO (5), bad options -> USAGE (2).
 * `what` prefixes file-system messages ("writing ride.mkv").
 */
export function toCliError(err: unknown, what?: string): CliError {
  if (err instanceof CliError) return err;
  const code = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'ERR_CLIENT_CONNECT':
    case 'ERR_CLIENT_TIMEOUT':
      return new CliError(message, ExitCode.CONNECT);
    case 'ERR_CLIENT_HTTP':
    case 'ERR_NOT_REARVIEW':
      return new CliError(message, ExitCode.REMOTE);
    case 'ERR_CONFIG':
      return new CliError(message, ExitCode.USAGE);
    case 'ERR_ABORTED':
      return new CliError('interrupted', ExitCode.INTERRUPTED);
    case 'ERR_CLIENT_DECODE':
    case 'ERR_CONVERT':
    case 'ERR_RECORDER_IO':
      return new CliError(message, ExitCode.IO);
    default:
      break;
  }
  if (typeof code === 'string' && code.startsWith('ERR_H264')) return new CliError(message, ExitCode.BAD_STREAM);
  if (typeof code === 'string' && FS_WORDS[code]) {
    const path = (err as { path?: unknown }).path;
    const where = what ?? (typeof path === 'string' ? path : '');
    return new CliError(`${where ? `${where}: ` : ''}${FS_WORDS[code]}`, ExitCode.IO);
  }
  if (err instanceof TypeError || err instanceof RangeError) return new CliError(message, ExitCode.USAGE);
  return new CliError(`internal error: ${message}`, ExitCode.INTERNAL);
}

/**
 * Adds where to look to a "cannot reach" error when the camera address was
 * not given with --camera (the default mDNS name, or REARVIEW_CAMERA): the
 * usual cause is a camera on another address, which `rearview discover`
 * finds. Other errors come back unchanged.
 */
export function withCameraHint(
  err: CliError,
  command: Pick<Command, 'getOptionValueSource' | 'opts'> | undefined,
): CliError {
  if (err.exitCode !== ExitCode.CONNECT || typeof command?.getOptionValueSource !== 'function') return err;
  if (command.getOptionValueSource('camera') === 'cli') return err;
  const camera = String((command.opts() as { camera?: unknown }).camera ?? DEFAULT_CAMERA);
  const tried = process.env.REARVIEW_CAMERA ? `REARVIEW_CAMERA=${camera}` : `${camera}, the device's default name`;
  return new CliError(
    `${err.message} (no --camera given, so tried ${tried}; give --camera HOST[:PORT], or find cameras with \`rearview discover\`)`,
    err.exitCode,
  );
}

/** ANSI styles that are no-ops unless `stream` is a TTY and NO_COLOR is unset. */
export function colours(stream: NodeJS.WriteStream = process.stdout): {
  green: (s: string) => string;
  red: (s: string) => string;
  yellow: (s: string) => string;
  bold: (s: string) => string;
  dim: (s: string) => string;
} {
  const on = stream.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
  const wrap =
    (open: number, close: number) =>
    (s: string): string =>
      on ? `\u001b[${open}m${s}\u001b[${close}m` : s;
  return { green: wrap(32, 39), red: wrap(31, 39), yellow: wrap(33, 39), bold: wrap(1, 22), dim: wrap(2, 22) };
}

/** Parses a --timeout/--duration style option into ms, as a usage error when malformed. */
export async function durationOption(value: string, name: string): Promise<number> {
  const { parseDurationMs } = await import('../util/units.js');
  try {
    return parseDurationMs(value, name);
  } catch (err) {
    throw new CliError((err as Error).message, ExitCode.USAGE);
  }
}

/** Creates the CameraClient for a command's options (lazy import keeps --help fast). */
export async function cameraFromOptions(
  opts: CameraCommandOptions,
): Promise<import('../client/camera-client.js').CameraClient> {
  const { CameraClient } = await import('../client/camera-client.js');
  const timeoutMs = await durationOption(opts.timeout, '--timeout');
  const token = await tokenFromOptions(opts);
  try {
    return new CameraClient(opts.camera, { timeoutMs: Math.max(1, timeoutMs), ...(token ? { token } : {}) });
  } catch (err) {
    throw new CliError(`--camera: ${(err as Error).message}`, ExitCode.USAGE);
  }
}

/** Writes a JSON document to stdout (one line, newline-terminated). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
