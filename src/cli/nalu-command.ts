/**
 * Registers `rearview nalu`. Only the options are declared here; the
 * implementation (nalu-run.ts and the H.264 library) is imported when the
 * command runs, so `rearview --help` stays fast.
 */
import type { Command } from 'commander';

/** Adds `rearview nalu <source>` to the program (see docs/cli.md). */
export function registerNaluCommand(program: Command): void {
  program
    .command('nalu')
    .description(
      'list the NAL units of an H.264 Annex-B stream (file, - for stdin, or tcp://host[:port]), or its access units, or summarise it',
    )
    .argument('<source>', 'tcp://host[:port] (port 5000 by default), a file path, or - for standard input')
    .option('--json', 'one JSON object per line (with --summary: one JSON object)')
    .option('--frames', 'one line per access unit (frame or field) instead of per NAL unit')
    .option('--summary', 'print only a summary at the end of the input, on Ctrl-C, or at --count/--duration')
    .option('--count <n>', 'stop after n NAL units (n access units with --frames)')
    .option('--duration <time>', 'stop after this long (seconds, or 500ms, 2m)')
    .option('--retry', 'reconnect with backoff when a tcp:// source refuses or drops (until Ctrl-C)')
    .option('--max-nal-bytes <size>', 'largest NAL unit accepted; a larger one is an error', '16MiB')
    .addHelpText(
      'after',
      `
Examples:
  rearview nalu tcp://velovision-rearview.local:5000            one line per NAL unit, like the tutorial's tool
  rearview nalu ride.h264 --frames --count 100
  rearview nalu tcp://192.168.9.1:5000 --summary --duration 10s --json
  ffmpeg -i clip.mp4 -c copy -bsf h264_mp4toannexb -f h264 - | rearview nalu -

Exit codes: 0 ok (or stopped with Ctrl-C), 2 bad option, 3 not an H.264 stream, 4 cannot connect,
5 cannot read the file.`,
    )
    .action(async (source: string, options: Record<string, unknown>) => {
      const { runNalu } = await import('./nalu-run.js');
      await runNalu(source, options);
    });
}
