/**
 * Starting the daemon from tests: as a real `rearview serve` child process
 * (startServe) or in this process (startDaemonInProcess). Both bind port 0
 * and report the real ports; both return an idempotent close().
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { defaultConfig, mergeConfig, type ConfigInput, type RearviewConfig } from '../../src/config.js';
import { RearviewDaemon, type RearviewDaemonOptions } from '../../src/daemon.js';
import { Logger, silentLogger } from '../../src/log/logger.js';
import { join } from 'node:path';
import { cliPath, scratchDir } from './paths.js';

/** A running `rearview serve` child. */
export interface ServeProcess {
  streamPort: number;
  /** Set when the daemon printed "api listening on http://HOST:PORT". */
  apiPort: number | undefined;
  process: ChildProcessWithoutNullStreams;
  /** Every stdout line so far (grows while it runs). */
  stdoutLines: string[];
  /** Every stderr line so far (the log). */
  stderrLines: string[];
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after 5 s; resolves when it has exited. Idempotent. */
  close(): Promise<number | string>;
}

/** Options of startServe. */
export interface StartServeOptions {
  /** Give up waiting for the listening lines after this long. Default 20000 ms. */
  timeoutMs?: number;
  /** Fail unless the daemon also printed "api listening on http://HOST:PORT". Default false. */
  waitForApi?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Leave out the default `--stream-port 0 --api-port 0 --no-record --no-mdns` (not the scratch `--recordings`). */
  rawArgs?: boolean;
}

/**
 * True when `args` choose a recordings folder themselves (`--recordings`, or
 * a `--config` file that may set recordingsDir).
 */
function choosesRecordings(args: readonly string[]): boolean {
  return args.some(
    (a) => a === '--recordings' || a.startsWith('--recordings=') || a === '--config' || a.startsWith('--config='),
  );
}

/**
 * Spawns `node dist/src/cli/main.js serve --stream-port 0 --api-port 0
 * --no-record --no-mdns ...args` (later args win) and resolves once it
 * printed "stream listening on tcp://HOST:PORT" (and the API line when
 * asked). Rejects with the output when it exits or times out first.
 * Unless `args` give `--recordings` or `--config`, the daemon gets
 * `--recordings <a fresh scratch folder>` (removed by close()), so no test
 * reads or writes the checkout's ./recordings or settings left elsewhere.
 */
export async function startServe(args: string[] = [], opts: StartServeOptions = {}): Promise<ServeProcess> {
  const base = opts.rawArgs ? [] : ['--stream-port', '0', '--api-port', '0', '--no-record', '--no-mdns'];
  const scratch = choosesRecordings(args) ? undefined : scratchDir('rearview-serve-');
  if (scratch) base.push('--recordings', join(scratch.dir, 'recordings'));
  const child = spawn(process.execPath, [cliPath, 'serve', ...base, ...args], {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stdoutLines: string[] = [];
  const stderrLines: string[] = [];
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  void exited.then(() => scratch?.cleanup());
  createInterface({ input: child.stderr }).on('line', (l) => stderrLines.push(l));
  let streamPort: number | undefined;
  let apiPort: number | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    const timeoutMs = opts.timeoutMs ?? 20_000;
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `rearview serve did not report its ports within ${timeoutMs} ms\n${[...stdoutLines, ...stderrLines].join('\n')}`,
          ),
        ),
      timeoutMs,
    );
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    createInterface({ input: child.stdout }).on('line', (line) => {
      stdoutLines.push(line);
      const s = /^stream listening on tcp:\/\/(.+):(\d+)$/.exec(line);
      if (s) streamPort = Number(s[2]);
      const a = /^api listening on http:\/\/(.+):(\d+)$/.exec(line);
      if (a) apiPort = Number(a[2]);
      // serve prints the stream line, the API line when there is an API, then "watch it with:".
      if (line.startsWith('watch it') && streamPort !== undefined) {
        if (opts.waitForApi && apiPort === undefined) {
          clearTimeout(timer);
          reject(new Error(`rearview serve printed no "api listening" line\n${stdoutLines.join('\n')}`));
        } else done();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(
        new Error(`rearview serve exited (${code}) before listening\n${[...stdoutLines, ...stderrLines].join('\n')}`),
      );
    });
  });
  let closing: Promise<number | string> | undefined;
  const close = (): Promise<number | string> => {
    closing ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
        const code = await exited;
        clearTimeout(killer);
        return code;
      }
      return exited;
    })();
    return closing;
  };
  try {
    await ready;
  } catch (err) {
    await close();
    throw err;
  }
  return { streamPort: streamPort as number, apiPort, process: child, stdoutLines, stderrLines, exited, close };
}

/** A daemon running in the test process. */
export interface InProcessDaemon {
  daemon: RearviewDaemon;
  config: RearviewConfig;
  streamPort: number;
  close(): Promise<void>;
}

/**
 * Starts a RearviewDaemon in this process on 127.0.0.1 with free ports, no
 * recording and no mDNS unless `overrides` say otherwise; the recordings
 * folder is a fresh scratch folder (removed by close()) unless `overrides`
 * name one. Logs are silent unless REARVIEW_TEST_LOG=debug|info is set.
 */
export async function startDaemonInProcess(
  overrides: ConfigInput = {},
  options: RearviewDaemonOptions = {},
): Promise<InProcessDaemon> {
  const scratch = overrides.recordingsDir === undefined ? scratchDir('rearview-daemon-') : undefined;
  const config = mergeConfig(defaultConfig(), {
    bind: '127.0.0.1',
    streamPort: 0,
    apiPort: 0,
    record: false,
    mdns: false,
    ...(scratch ? { recordingsDir: join(scratch.dir, 'recordings') } : {}),
    ...overrides,
  });
  const level = process.env.REARVIEW_TEST_LOG;
  const logger = level === 'debug' || level === 'info' ? new Logger({ level }) : silentLogger;
  const daemon = new RearviewDaemon(config, { logger, ...options });
  try {
    await daemon.start();
  } catch (err) {
    await daemon.close();
    scratch?.cleanup();
    throw err;
  }
  return {
    daemon,
    config,
    streamPort: (daemon.streamAddress as { port: number }).port,
    close: async () => {
      await daemon.close();
      scratch?.cleanup();
    },
  };
}
