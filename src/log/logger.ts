/**
 * One injected logger for the daemon and the tools. Parts receive a child
 * logger with their own prefix; per-frame problems go through `RateLimitedCounter`
 * so they are reported at most once a second, never a line per frame.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Where log lines go. Default: standard error. */
export type LogSink = (line: string) => void;

/** Minimal structured logger with child prefixes. */
export class Logger {
  readonly level: LogLevel;
  private readonly prefix: string;
  private readonly sink: LogSink;

  constructor(options: { level?: LogLevel; prefix?: string; sink?: LogSink } = {}) {
    this.level = options.level ?? 'info';
    this.prefix = options.prefix ?? '';
    this.sink = options.sink ?? ((line) => process.stderr.write(`${line}\n`));
  }

  /** A logger whose lines carry `[name]` after this logger's prefix. */
  child(name: string): Logger {
    return new Logger({ level: this.level, prefix: this.prefix ? `${this.prefix} ${name}` : name, sink: this.sink });
  }

  /** True when lines of `level` would be written (skip building costly messages otherwise). */
  enabled(level: LogLevel): boolean {
    return LEVEL_RANK[level] >= LEVEL_RANK[this.level] && this.level !== 'silent';
  }

  debug(message: string): void {
    this.write('debug', message);
  }
  info(message: string): void {
    this.write('info', message);
  }
  warn(message: string): void {
    this.write('warn', message);
  }
  error(message: string): void {
    this.write('error', message);
  }

  private write(level: Exclude<LogLevel, 'silent'>, message: string): void {
    if (!this.enabled(level)) return;
    const time = new Date().toISOString();
    this.sink(`${time} ${level.toUpperCase().padEnd(5)} ${this.prefix ? `[${this.prefix}] ` : ''}${message}`);
  }
}

/** A logger that writes nothing (library default, tests). */
export const silentLogger = new Logger({ level: 'silent' });

/**
 * Counts a recurring event and logs a summary at most once per `intervalMs`
 * ("dropped 12 frames in the last 1.0 s"), so a per-frame problem never floods the log.
 */
export class RateLimitedCounter {
  private pending = 0;
  private lastReportMs = -Infinity;
  /** Total since creation. */
  total = 0;

  constructor(
    private readonly report: (countSinceLast: number, total: number) => void,
    private readonly intervalMs = 1000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Counts `n` occurrences; reports if the interval has passed since the last report. */
  add(n = 1): void {
    this.pending += n;
    this.total += n;
    const t = this.now();
    if (t - this.lastReportMs >= this.intervalMs) {
      this.lastReportMs = t;
      const count = this.pending;
      this.pending = 0;
      this.report(count, this.total);
    }
  }
}
