/**
 * Runs one encoder process (rpicam-vid, gst-launch-1.0, ffmpeg) for a capture
 * source: spawned in its own process group so close() can kill the whole
 * group (a shell wrapper or a pipeline's helpers included) and leave no
 * orphan holding the camera; stdout bytes go to the caller; stderr lines go
 * to the logger at a bounded rate, and the last few are kept to explain an
 * exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { SourceError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { systemClock, type Clock } from '../util/clock.js';

/** How a process ended. */
export interface ProcessExit {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last stderr lines (at most `stderrTailLines`), oldest first. */
  stderrTail: string[];
  /** True when the exit was caused by close(). */
  requested: boolean;
}

/** Options of {@link ProcessRunner}. */
export interface ProcessRunnerOptions {
  /** Executable name (looked up on `env.PATH`) or path. */
  command: string;
  args: readonly string[];
  /** Environment of the child. Default: this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Receives stderr lines (prefix it: `logger.child('rpicam')`). */
  logger: Logger;
  /** Every chunk read from the child's stdout, in order. */
  onStdout: (chunk: Buffer) => void;
  /**
   * When set, the child gets a pipe on file descriptor 3 too (an encoder's
   * second output: ffmpeg `pipe:3`, gst-launch `fdsink fd=3`), and every
   * chunk read from it comes here. The exit waits for it to end as for stdout.
   */
  onFd3?: (chunk: Buffer) => void;
  /** Called once when the process has exited and its stdout is fully read. */
  onExit: (exit: ProcessExit) => void;
  /** After SIGTERM, how long to wait before SIGKILL. Default 2000 ms. */
  killGraceMs?: number;
  /** Most stderr lines logged per second; the rest are counted. Default 20. */
  stderrLinesPerSecond?: number;
  /** stderr lines kept for the exit message. Default 20. */
  stderrTailLines?: number;
  clock?: Clock;
}

/**
 * Process groups of runners whose leader has not finished yet. Encoders run
 * detached (own group), so they do not die with us: if this process exits
 * without close() (a crash, or `serve`'s last-resort handler giving up on a
 * slow close), the 'exit' hook below SIGKILLs what is left, so no orphan
 * keeps the camera busy for the next start.
 */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const group of liveGroups) {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // ESRCH: already gone.
      }
    }
  });
}

/** One child process in its own process group; see the file comment. */
export class ProcessRunner {
  private readonly options: ProcessRunnerOptions;
  private readonly clock: Clock;
  private child: ChildProcess | undefined;
  private exited = false;
  private closing: Promise<void> | undefined;
  private closeRequested = false;
  private readonly stderrTail: string[] = [];
  private stderrPartial = '';
  private windowStartMs = -Infinity;
  private linesInWindow = 0;
  private suppressedLines = 0;
  private exitWaiters: Array<() => void> = [];

  constructor(options: ProcessRunnerOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
  }

  /** Process id of the group leader (also the process group id), once spawned. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** True once the process has exited. */
  get hasExited(): boolean {
    return this.exited;
  }

  /**
   * Spawns the process. Resolves once it is running; rejects with a
   * SourceError `ERR_SOURCE_SPAWN` when it cannot be started (for example,
   * the executable does not exist).
   */
  start(): Promise<void> {
    if (this.child) throw new Error('ProcessRunner.start() called twice');
    const { command, args } = this.options;
    return new Promise<void>((resolve, reject) => {
      const child = spawn(command, [...args], {
        // Own process group: close() signals -pid and reaches every helper process.
        detached: true,
        stdio: this.options.onFd3 ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
        env: this.options.env ?? process.env,
      });
      this.child = child;
      let spawned = false;
      child.once('spawn', () => {
        spawned = true;
        if (child.pid !== undefined) trackGroup(child.pid);
        resolve();
      });
      child.on('error', (err: NodeJS.ErrnoException) => {
        if (!spawned) {
          this.exited = true;
          this.notifyExitWaiters();
          const hint = err.code === 'ENOENT' ? ' (not found on PATH)' : '';
          reject(new SourceError('ERR_SOURCE_SPAWN', `cannot start ${command}${hint}: ${err.message}`, { cause: err }));
          return;
        }
        this.options.logger.warn(`${command}: ${err.message}`);
      });
      child.stdout!.on('data', (chunk: Buffer) => this.options.onStdout(chunk));
      const onFd3 = this.options.onFd3;
      const fd3 = child.stdio[3] as NodeJS.ReadableStream | null | undefined;
      if (onFd3 && fd3) {
        fd3.on('data', (chunk) => onFd3(chunk as Buffer));
        // A read error on the second pipe ends with the process; it must not be an uncaught 'error'.
        fd3.on('error', (err: Error) => this.options.logger.warn(`${command} fd 3: ${err.message}`));
      }
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (text: string) => this.onStderr(text));
      // 'exit' comes first; kill what is left of the group so 'close' (all stdio ended) can follow.
      child.once('exit', () => {
        this.exited = true;
        this.killGroup('SIGTERM', true);
        this.notifyExitWaiters();
      });
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        // The leader has exited and its group was signalled: forget the id before the OS can reuse it.
        if (child.pid !== undefined) liveGroups.delete(child.pid);
        if (!spawned) return;
        if (this.stderrPartial) this.onStderrLine(this.stderrPartial);
        this.stderrPartial = '';
        this.flushSuppressed();
        this.options.onExit({ code, signal, stderrTail: [...this.stderrTail], requested: this.closeRequested });
      });
    });
  }

  /**
   * Stops the process group: SIGTERM, then SIGKILL after the grace period if
   * the leader is still alive, then SIGKILL to any helper left in the group.
   * Resolves when the leader has exited. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closeRequested = true;
    const child = this.child;
    if (!child || child.pid === undefined) return;
    if (!this.exited) {
      this.killGroup('SIGTERM');
      const graceMs = this.options.killGraceMs ?? 2000;
      const timedOut = await this.waitForExit(graceMs);
      if (timedOut) {
        this.options.logger.warn(
          `${this.options.command} did not stop within ${graceMs} ms of SIGTERM; sending SIGKILL`,
        );
        this.killGroup('SIGKILL');
        await this.waitForExit(Infinity);
      }
    }
    // Helpers that ignored SIGTERM must not outlive us (they may hold the camera).
    if (this.groupAlive()) this.killGroup('SIGKILL');
  }

  /** Resolves true on timeout, false once the process exited. */
  private waitForExit(timeoutMs: number): Promise<boolean> {
    if (this.exited) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      let timer: unknown;
      const done = () => {
        if (timer !== undefined) this.clock.clearTimeout(timer);
        resolve(false);
      };
      this.exitWaiters.push(done);
      if (Number.isFinite(timeoutMs)) {
        timer = this.clock.setTimeout(() => {
          this.exitWaiters = this.exitWaiters.filter((w) => w !== done);
          resolve(true);
        }, timeoutMs);
      }
    });
  }

  private notifyExitWaiters(): void {
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const w of waiters) w();
  }

  private groupAlive(): boolean {
    const pid = this.child?.pid;
    if (pid === undefined) return false;
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  private killGroup(signal: NodeJS.Signals, onlyIfAlive = false): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    if (onlyIfAlive && !this.groupAlive()) return;
    try {
      process.kill(-pid, signal);
    } catch (err) {
      // ESRCH: the group is already gone.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH')
        this.options.logger.warn(`cannot signal process group ${pid}: ${(err as Error).message}`);
    }
  }

  private onStderr(text: string): void {
    const lines = (this.stderrPartial + text).split(/\r?\n|\r/);
    this.stderrPartial = lines.pop() ?? '';
    for (const line of lines) this.onStderrLine(line);
  }

  private onStderrLine(raw: string): void {
    const line = raw.trimEnd();
    if (!line) return;
    const tailMax = this.options.stderrTailLines ?? 20;
    this.stderrTail.push(line);
    if (this.stderrTail.length > tailMax) this.stderrTail.shift();
    const now = this.clock.monoNow();
    if (now - this.windowStartMs >= 1000) {
      this.flushSuppressed();
      this.windowStartMs = now;
      this.linesInWindow = 0;
    }
    if (this.linesInWindow < (this.options.stderrLinesPerSecond ?? 20)) {
      this.linesInWindow++;
      this.options.logger.info(line);
    } else {
      this.suppressedLines++;
    }
  }

  private flushSuppressed(): void {
    if (this.suppressedLines > 0) {
      this.options.logger.info(`(${this.suppressedLines} more stderr lines not shown)`);
      this.suppressedLines = 0;
    }
  }
}

/** One line explaining a process exit, for logs and SourceError messages. */
export function describeExit(command: string, exit: ProcessExit): string {
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code ?? '?'}`;
  const last = exit.stderrTail[exit.stderrTail.length - 1];
  return last ? `${command} ${how}: ${last}` : `${command} ${how}`;
}

export { findOnPath } from '../util/find-on-path.js';
