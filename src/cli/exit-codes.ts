/**
 * Process exit codes shared by every `rearview` command (listed in
 * docs/cli.md). Scripts branch on these, so they never change meaning.
 */
export const ExitCode = {
  /** Success. */
  OK: 0,
  /** Unexpected internal error (a bug: please report). */
  INTERNAL: 1,
  /** Bad command line or config file. */
  USAGE: 2,
  /** Input is not a usable H.264 stream (no start code, NAL over the cap, ...). */
  BAD_STREAM: 3,
  /** Cannot connect: refused, unknown host, timeout, dropped without --retry. */
  CONNECT: 4,
  /** A file or folder could not be read or written (missing, permission, disk full). */
  IO: 5,
  /** The remote answered, but not as a Rearview camera, or with an HTTP error. */
  REMOTE: 6,
  /** `rearview doctor` found something wrong (each problem is printed in plain words). */
  CHECK_FAILED: 7,
  /** Interrupted by the user (Ctrl-C) where that is not a normal way to stop. */
  INTERRUPTED: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error that a command turns into one line on stderr and an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
