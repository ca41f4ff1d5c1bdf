/**
 * One long-lived libgpiod tool process holding one GPIO line (gpiomon for
 * the button, gpioset for the LED). `run(args)` makes the process the one
 * with those arguments: nothing happens when it already runs them; otherwise
 * the old process is stopped and the new one starts only after the old one
 * has exited, since the kernel gives a line to one holder at a time. A
 * process that dies on its own is restarted after a growing delay (1 s to
 * 60 s), and said once in the log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from '../log/logger.js';
import type { Clock, TimerHandle } from '../util/clock.js';

/** Options of GpioToolProcess. */
export interface GpioToolProcessOptions {
  /** The tool: `gpiomon` or `gpioset` (found on `env.PATH`). */
  command: string;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  logger: Logger;
  /** Each line the process prints on stdout. */
  onLine?: (line: string) => void;
}

const FIRST_RESTART_MS = 1000;
const MAX_RESTART_MS = 60_000;
/** A process that ran this long was working: its next restart waits the shortest delay again, ms. */
const STABLE_MS = 60_000;
/** After SIGTERM, how long a tool has to exit before SIGKILL, ms (real time: the kernel must release the line). */
const KILL_AFTER_MS = 2000;

/** The supervisor of one tool process. */
export class GpioToolProcess {
  private child: ChildProcess | undefined;
  private childArgs: string[] | undefined;
  private wanted: string[] | undefined;
  private stopping: Promise<void> | undefined;
  private restartTimer: TimerHandle | undefined;
  private restartMs = FIRST_RESTART_MS;
  private closed = false;
  private stderrTail = '';
  /** Processes spawned so far (for status and tests). */
  spawned = 0;

  constructor(private readonly options: GpioToolProcessOptions) {}

  /** The arguments of the running process, or undefined. */
  get runningArgs(): readonly string[] | undefined {
    return this.child ? this.childArgs : undefined;
  }

  /** Makes the running process the one with `args` (see the module comment). */
  run(args: string[]): void {
    if (this.closed) return;
    this.wanted = args;
    if (this.child && sameArgs(this.childArgs, args)) return;
    if (this.restartTimer !== undefined) {
      this.options.clock.clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
    }
    void this.replace();
  }

  /** Stops the process (the line is released) and never starts another. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.wanted = undefined;
    if (this.restartTimer !== undefined) this.options.clock.clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    await this.stop();
  }

  private async replace(): Promise<void> {
    await this.stop();
    // Another run() may have come while the old process was exiting: start only the latest.
    if (this.closed || this.child || !this.wanted) return;
    this.start(this.wanted);
  }

  /** Stops the current process; concurrent callers share one stop. */
  private stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.child = undefined;
      return Promise.resolve();
    }
    this.child = undefined; // from here its exit is expected: no restart
    this.stopping = new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
      kill.unref();
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    }).finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }

  private start(args: string[]): void {
    const { command, env, logger } = this.options;
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.childArgs = args;
    this.spawned++;
    this.stderrTail = '';
    const startedAt = this.options.clock.monoNow();
    const onLine = this.options.onLine;
    if (onLine) createInterface({ input: child.stdout! }).on('line', onLine);
    else child.stdout!.resume();
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-300);
    });
    child.on('error', (err) => logger.warn(`${command}: ${err.message}`));
    child.once('exit', (code, signal) => {
      if (this.child !== child) return; // replaced or closed on purpose
      this.child = undefined;
      if (this.closed) return;
      // A process that ran a while before it died starts the back-off again from the shortest delay.
      if (this.options.clock.monoNow() - startedAt >= STABLE_MS) this.restartMs = FIRST_RESTART_MS;
      const why = this.stderrTail.trim().split('\n').pop() || `exit ${code ?? signal}`;
      logger.warn(`${command} ${args.join(' ')} stopped (${why}); restarting in ${this.restartMs / 1000} s`);
      const delay = this.restartMs;
      this.restartMs = Math.min(MAX_RESTART_MS, this.restartMs * 2);
      this.restartTimer = this.options.clock.setTimeout(() => {
        this.restartTimer = undefined;
        if (!this.closed && !this.child && this.wanted) this.start(this.wanted);
      }, delay);
    });
  }
}

function sameArgs(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);
}
