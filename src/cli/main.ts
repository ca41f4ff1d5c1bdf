#!/usr/bin/env node
/**
 * `rearview` command-line entry point. Each subcommand lives in its own file
 * and is loaded only when run, so `rearview --help` and short commands start fast.
 */
import { Command, CommanderError } from 'commander';
import { CliError, ExitCode } from './exit-codes.js';
import { commands } from './commands.js';
import { packageVersion } from '../util/package-version.js';
import { keepYoungGenerationSmall } from '../util/young-generation.js';

/** Builds the program; exported for tests. */
export function buildProgram(): Command {
  const program = new Command('rearview')
    .description('Velovision Rearview camera: the camera daemon (serve) and the tools to use it')
    .version(packageVersion() ?? '0.0.0', '-V, --version')
    .addHelpText(
      'after',
      `
Examples:
  rearview serve                                        run the camera daemon (the sample clip without a camera)
  rearview view tcp://192.168.9.1:5000                  watch a camera in the browser
  rearview nalu tcp://192.168.9.1:5000 --frames         look inside the stream
  rearview record tcp://192.168.9.1:5000 -o ride.mkv --duration 10m
  rearview videos --camera 192.168.9.1 sync ~/rides     mirror the camera's recordings
  rearview status --camera 192.168.9.1

Each command has its own --help with examples; exit codes are listed in docs/cli.md.`,
    )
    // Errors stay on one line: commander puts its "Did you mean" hint on a second one.
    .configureOutput({
      writeErr: (text) => process.stderr.write(text.replace(/\n\(Did you mean (.*)\?\)/, ' (did you mean $1?)')),
    })
    .exitOverride();
  for (const register of commands) register(program);
  return program;
}

/** Prints an error as one line and exits with its code (no stack trace for expected failures). */
export function exitWithError(err: unknown): never {
  if (err instanceof CliError) {
    process.stderr.write(`rearview: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  if (err instanceof CommanderError) {
    process.exit(err.exitCode === 0 ? 0 : ExitCode.USAGE);
  }
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`rearview: internal error: ${message}\n`);
  process.exit(ExitCode.INTERNAL);
}

async function main(): Promise<void> {
  try {
    // Before the daemon's modules load: their loading alone grew the new space to 16 MB.
    if (process.argv[2] === 'serve') keepYoungGenerationSmall();
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    exitWithError(err);
  }
}

void main();
