/**
 * `rearview discover`: lists the Rearview cameras heard over mDNS/DNS-SD
 * (`_rearview._tcp`), each as soon as it answers.
 */
import type { Command } from 'commander';
import type { DiscoveredCamera } from '../discovery/mdns-browser.js';
import { CliError, ExitCode } from './exit-codes.js';
import { colours, durationOption, printJson, toCliError } from './camera-helpers.js';

/** Registers `rearview discover`. */
export function registerDiscover(program: Command): void {
  program
    .command('discover')
    .description('list Rearview cameras on the local network (mDNS)')
    .option('-t, --timeout <duration>', 'how long to listen', '3s')
    .option('--json', 'print one JSON array of cameras at the end')
    .addHelpText(
      'after',
      `
Examples:
  rearview discover
  rearview discover --timeout 10s --json | jq -r '.[0].streamUrl'

Cameras advertise _rearview._tcp with TXT records stream, api, model, res, version.
Exit codes: 0 at least one camera found, 4 none found or mDNS unusable here.`,
    )
    .action(async (opts: { timeout: string; json?: boolean }) => {
      const timeoutMs = await durationOption(opts.timeout, '--timeout');
      const { discover } = await import('../discovery/mdns-browser.js');
      const c = colours();
      let cameras: DiscoveredCamera[];
      try {
        cameras = await discover({
          timeoutMs,
          onCamera: (cam) => {
            if (opts.json) return;
            process.stdout.write(
              `${c.bold(cam.name)}  ${cam.streamUrl}  ${cam.apiUrl}${cam.resolution ? `  ${cam.resolution}` : ''}${cam.model ? `  ${cam.model}` : ''}${cam.version ? `  v${cam.version}` : ''}\n`,
            );
          },
        });
      } catch (err) {
        throw new CliError(`mDNS is not usable on this machine: ${toCliError(err).message}`, ExitCode.CONNECT);
      }
      if (opts.json) printJson(cameras);
      if (cameras.length === 0)
        throw new CliError(
          `no camera answered within ${opts.timeout} (is this computer on the camera's Wi-Fi?)`,
          ExitCode.CONNECT,
        );
    });
}
