/**
 * `rearview view [source]`: watch any port-5000 camera (ours or another
 * one's raw H.264 over TCP) in the browser with WebCodecs. The page must be
 * a secure context for WebCodecs, and http://localhost is one, so this
 * serves the live page locally, bridged to the camera through a small local
 * StreamHub (the same source layer as `rearview serve --source tcp://...`,
 * reconnecting with backoff). `--player ffplay` runs ffplay with the
 * low-latency flags instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import { CliError, ExitCode } from './exit-codes.js';
import { isTcpUrl, parseStreamAddress, type StreamAddress } from '../util/stream-address.js';
import type { RearviewConfig } from '../config.js';

/** Default camera: the device's mDNS name and stream port. */
export const DEFAULT_VIEW_SOURCE = 'tcp://velovision-rearview.local:5000';

/** A camera's capture-time stamp is used only when within this of the arrival time, ms. */
export const CAMERA_CLOCK_TRUST_MS = 2000;

/** Options of {@link runView}. */
export interface ViewOptions {
  /** HTTP port of the local page; 0 picks a free one. Default 0. */
  port: number;
  /** Address to bind; keep it local so the page stays a secure context. Default '127.0.0.1'. */
  host: string;
  /** Open the default browser. Default true. */
  open: boolean;
  /** 'browser' (default) or 'ffplay'. */
  player: 'browser' | 'ffplay';
  /** Frame rate hint for ffplay (raw H.264 has no timestamps). Default 30. */
  fps: number;
  /** Log level for the bridge. */
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
}

/** The ffplay command line for a raw H.264 TCP stream, tuned for latency (platform notes). */
export function ffplayArgs(url: string, fps: number): string[] {
  return [
    '-hide_banner',
    '-loglevel',
    'warning',
    '-fflags',
    'nobuffer',
    '-flags',
    'low_delay',
    '-framedrop',
    '-probesize',
    '32',
    '-analyzeduration',
    '0',
    '-sync',
    'ext',
    '-f',
    'h264',
    '-framerate',
    String(fps),
    '-window_title',
    `rearview ${url}`,
    url,
  ];
}

/**
 * Opens `url` in the default browser when the desktop has one. Never throws
 * and never waits: a headless machine just gets the printed URL.
 */
export function openBrowser(
  url: string,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): boolean {
  let cmd: string;
  let args: string[];
  if (platform === 'darwin') [cmd, args] = ['open', [url]];
  else if (platform === 'win32') [cmd, args] = ['cmd', ['/c', 'start', '', url]];
  else {
    // Without a display, xdg-open would fall back to a text browser in our terminal.
    if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return false;
    [cmd, args] = ['xdg-open', [url]];
  }
  try {
    const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
    child.on('error', (err) => process.stderr.write(`could not open a browser (${err.message}): open the URL above\n`));
    child.unref();
    return true;
  } catch {
    return false;
  }
}

/** Runs the viewer until SIGINT/SIGTERM. Resolves with the exit code. */
export async function runView(source: string, options: ViewOptions): Promise<number> {
  if (options.player === 'ffplay') return runFfplay(source, options.fps);

  const [
    { loadConfig },
    { Logger },
    { StreamHub },
    { SourceSupervisor },
    { createSource },
    { createWebMount },
    { captureTimeOf },
  ] = await Promise.all([
    import('../config.js'),
    import('../log/logger.js'),
    import('../hub/stream-hub.js'),
    import('../sources/source-supervisor.js'),
    import('../sources/create-source.js'),
    import('../api/web-mount.js'),
    import('../h264/capture-time-sei.js'),
  ]);
  const logger = new Logger({ level: options.logLevel });
  let config: RearviewConfig;
  try {
    config = loadConfig({ overrides: { source, fileFps: options.fps } });
    createSource(config, logger); // validates the source form before anything listens
  } catch (err) {
    throw new CliError((err as Error).message, ExitCode.USAGE);
  }
  const hub = new StreamHub({ logger: logger.child('hub'), fallbackVideo: { fps: options.fps } });
  const supervisor = new SourceSupervisor({
    factory: () => createSource(config, logger),
    sink: {
      // A camera that stamps frames (our capture-time SEI) gives the real
      // capture time, so the page's latency covers the camera too. Trusted
      // only when it is within CAMERA_CLOCK_TRUST_MS of the arrival time: a
      // camera on its own hotspot often has no NTP and a clock hours off.
      accessUnit(au, arrivedAtMs) {
        const stamp = captureTimeOf(au.nals, arrivedAtMs, CAMERA_CLOCK_TRUST_MS);
        const capturedAtMs = stamp?.trusted ? stamp.stampedAtMs : arrivedAtMs;
        hub.accessUnit(au, capturedAtMs);
      },
      discontinuity: (reason) => hub.discontinuity(reason),
    },
    logger: logger.child('source'),
    stallMs: config.sourceStallMs,
  });
  const mount = createWebMount({ hub, logger, viewerOnly: true, cameraName: source });
  const server = createServer((req, res) => {
    mount.handleRequest(req, res).then(
      (handled) => {
        if (handled) return;
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('rearview view serves only the live page\n');
      },
      // A rejection here used to be unhandled and ended the process.
      (err: unknown) => {
        logger.debug(`${req.url ?? '?'}: ${(err as Error).message}`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end();
      },
    );
  });
  mount.attach(server);
  server.listen(options.port, options.host);
  try {
    await once(server, 'listening');
  } catch (err) {
    throw new CliError(`cannot listen on ${options.host}:${options.port}: ${(err as Error).message}`, ExitCode.USAGE);
  }
  const { port } = server.address() as AddressInfo;
  const shownHost =
    options.host === '127.0.0.1' || options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host;
  const url = `http://${shownHost}:${port}/`;
  await hub.start();
  await supervisor.start();
  process.stdout.write(`viewer on ${url} (stream from ${source})\n`);
  if (options.open && !openBrowser(url)) process.stdout.write('no desktop browser found: open the URL above\n');

  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await supervisor.close();
  await mount.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await hub.close();
  return ExitCode.OK;
}

async function runFfplay(source: string, fps: number): Promise<number> {
  if (!isTcpUrl(source)) throw new CliError('--player ffplay needs a tcp://host[:port] source', ExitCode.USAGE);
  let address: StreamAddress;
  try {
    address = parseStreamAddress(source);
  } catch (err) {
    throw new CliError((err as Error).message, ExitCode.USAGE);
  }
  // The normalised URL: always a port, never a query (ffplay would take `?listen` as an order to listen).
  const args = ffplayArgs(address.url, fps);
  process.stdout.write(`ffplay ${args.join(' ')}\n`);
  let child: ChildProcess;
  try {
    child = spawn('ffplay', args, { stdio: 'inherit' });
  } catch (err) {
    throw new CliError(`cannot run ffplay: ${(err as Error).message}`, ExitCode.IO);
  }
  let stopRequested = false;
  const forward = (sig: NodeJS.Signals): void => {
    stopRequested = true;
    child.kill(sig);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const [code] = (await Promise.race([
    once(child, 'exit'),
    once(child, 'error').then(([err]) => {
      throw new CliError(
        `cannot run ffplay (is it installed? it comes with ffmpeg): ${(err as Error).message}`,
        ExitCode.IO,
      );
    }),
  ])) as [number | null];
  process.off('SIGINT', forward);
  process.off('SIGTERM', forward);
  // Ctrl-C is the normal way to stop a viewer (ffplay itself reports 123 for it).
  if (stopRequested) return ExitCode.OK;
  return code ?? ExitCode.INTERRUPTED;
}

/** Registers `rearview view`. */
export function registerView(program: Command): void {
  program
    .command('view')
    .description('watch a camera in the browser with the lowest latency (WebCodecs on a local page), or with ffplay')
    .argument('[source]', 'the camera stream: tcp://host:port (also file:PATH or sample)', DEFAULT_VIEW_SOURCE)
    .option('--port <n>', 'HTTP port of the local page (0 = any free port)', '0')
    .option(
      '--host <addr>',
      'address the page listens on (keep it local: WebCodecs needs a secure context)',
      '127.0.0.1',
    )
    .option('--no-open', 'do not open a browser, just print the URL')
    .option('--player <name>', 'browser, or ffplay to run ffplay with low-latency flags', 'browser')
    .option('--fps <n>', 'frame rate of streams without timing information', '30')
    .option('--log-level <level>', 'debug, info, warn, error or silent', 'info')
    .addHelpText(
      'after',
      `
Examples:
  rearview view                                   the camera at tcp://velovision-rearview.local:5000, in the browser
  rearview view tcp://192.168.9.1:5000 --port 8080 --no-open
  rearview view tcp://192.168.9.1:5000 --player ffplay
  rearview view file:ride.h264 --fps 30           a recorded raw H.264 file, paced at 30 fps

Exit codes: 0 stopped with Ctrl-C, 2 bad option, bad source or the page port cannot be bound,
5 ffplay cannot be run; with --player ffplay, ffplay's own exit code otherwise.`,
    )
    .action(
      async (
        source: string,
        opts: { port: string; host: string; open: boolean; player: string; fps: string; logLevel: string },
      ) => {
        const port = Number(opts.port);
        const fps = Number(opts.fps);
        if (!Number.isInteger(port) || port < 0 || port > 65535)
          throw new CliError(`--port: expected 0..65535, got ${opts.port}`, ExitCode.USAGE);
        if (!(fps > 0 && fps <= 1000))
          throw new CliError(`--fps: expected a positive number, got ${opts.fps}`, ExitCode.USAGE);
        if (opts.player !== 'browser' && opts.player !== 'ffplay')
          throw new CliError(`--player: expected browser or ffplay, got ${opts.player}`, ExitCode.USAGE);
        if (!['debug', 'info', 'warn', 'error', 'silent'].includes(opts.logLevel))
          throw new CliError(`--log-level: unknown level ${opts.logLevel}`, ExitCode.USAGE);
        const code = await runView(source, {
          port,
          host: opts.host,
          open: opts.open,
          player: opts.player,
          fps,
          logLevel: opts.logLevel as ViewOptions['logLevel'],
        });
        process.exitCode = code;
      },
    );
}
